"""The API's typed contract: pydantic models of every request body (`bodies`) and every response
(`views`), kept apart from the tables. They describe /api/openapi.json; the services still do the
checks that need more than a type (addresses, header injection, base64), for the API and the web
forms alike."""
