"""The records: contacts, the timeline an email is written onto, and reading emails, threads and
attachments back."""
