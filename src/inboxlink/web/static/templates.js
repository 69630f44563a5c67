// Templates, snippets and Send later (issue 16): the template editor's token picker and live
// preview, and in the composer "Insert template", #shortcut snippets and the Send later picker.
(() => {
  "use strict";

  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const fetchHeaders = { "X-Requested-With": "fetch" };

  // Put `text` where the caret is in a text input or textarea.
  function insertAtCaret(field, text) {
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.selectionStart = field.selectionEnd = start + text.length;
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // ---- the template editor ----
  const editor = document.querySelector("form[data-template-editor]");
  if (editor) {
    let target = editor.querySelector("#template-text");
    editor.querySelectorAll("[data-token-target]").forEach((el) => el.addEventListener("focus", () => { target = el; }));
    editor.querySelectorAll("[data-token]").forEach((button) =>
      button.addEventListener("click", () => {
        insertAtCaret(target, `{{ ${button.dataset.token} }}`);
        target.focus();
      })
    );
    const picker = document.querySelector("[data-preview-contact]");
    const box = document.querySelector("[data-preview]");
    const frame = document.querySelector("[data-preview-html]");
    let timer = null;
    async function preview() {
      if (!picker.value) return;
      const form = new FormData(editor);
      form.set("preview_contact_id", picker.value);
      const response = await fetch("/templates/preview", {
        method: "POST",
        body: form,
        headers: { ...fetchHeaders, "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      const data = await response.json().catch(() => ({ error: "The preview could not be loaded." }));
      const error = box.querySelector("[data-preview-error]");
      error.hidden = !data.error;
      error.textContent = data.error || "";
      error.className = data.error ? "alert alert-error" : "muted";
      box.querySelector("[data-preview-subject]").textContent = data.error ? "" : data.subject;
      box.querySelector("[data-preview-text]").textContent = data.error ? "" : data.text;
      frame.hidden = !data.html;
      // Sanitised by the server and shown in a sandboxed frame (no scripts, no same origin).
      frame.srcdoc = data.html || "";
    }
    const soon = () => { clearTimeout(timer); timer = setTimeout(preview, 250); };
    picker.addEventListener("change", preview);
    editor.addEventListener("input", soon);
  }

  // ---- the composer ----
  const extras = document.querySelector("[data-composer-extras]");
  if (!extras) return;
  const composer = extras.closest("form");
  const message = composer.querySelector("#compose-text");
  const subject = composer.querySelector("#compose-subject");
  const chooser = extras.querySelector("[data-insert-template]");
  const later = extras.querySelector("[data-send-later]");
  const sendAt = extras.querySelector("[data-send-at]");
  const templateError = extras.querySelector('[data-error-for="compose-template"]');
  let snippets = {};
  extras.hidden = false;

  fetch("/composer/inserts", { headers: fetchHeaders, credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : { templates: [], snippets: [] }))
    .then((data) => {
      for (const t of data.templates) chooser.add(new Option(t.name, t.id));
      snippets = Object.fromEntries(data.snippets.map((s) => [s.shortcut, s.text]));
    })
    .catch(() => {});

  chooser.addEventListener("change", async () => {
    if (!chooser.value) return;
    templateError.hidden = true;
    const response = await fetch(`/templates/${chooser.value}/for/${extras.dataset.contactId}`, {
      headers: fetchHeaders,
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({ error: "The template could not be loaded." }));
    if (data.error) {
      templateError.textContent = data.error;
      templateError.hidden = false;
    } else {
      if (data.subject) subject.value = data.subject;
      message.value = message.value.trim() ? `${message.value}\n\n${data.text}` : data.text;
      message.dispatchEvent(new Event("input", { bubbles: true })); // the rich editor shows it (writing.js)
    }
    chooser.value = "";
  });

  // "#pricing" followed by a space (or Enter) becomes the snippet's text.
  message.addEventListener("keyup", (ev) => {
    if (ev.key !== " " && ev.key !== "Enter") return;
    const caret = message.selectionStart;
    const before = message.value.slice(0, caret);
    const match = before.match(/(^|\s)#([a-z0-9][a-z0-9_-]{0,39})(\s)$/i);
    if (!match || !(match[2].toLowerCase() in snippets)) return;
    const start = caret - match[2].length - 1 - match[3].length;
    const text = snippets[match[2].toLowerCase()];
    message.value = message.value.slice(0, start) + text + match[3] + message.value.slice(caret);
    message.selectionStart = message.selectionEnd = start + text.length + match[3].length;
  });

  // The picker's local time, sent with the zone (ISO 8601 in UTC).
  function syncSendAt() {
    const when = later.value ? new Date(later.value) : null;
    sendAt.value = when && !Number.isNaN(when.getTime()) ? when.toISOString() : "";
  }
  later.addEventListener("input", syncSendAt);
  later.addEventListener("change", syncSendAt);
  composer.addEventListener("reset", () => { sendAt.value = ""; });
})();
