// inboxlink web UI, issue 14 item 6: writing like in a mail client — the rich-text editor (bold,
// italic, list, link), drafts saved while typing and restored, a reply's own draft. Progressive
// enhancement only: without this file the composer is a plain textarea and works the same.
(() => {
  "use strict";

  const composer = document.querySelector("form[data-composer]");
  if (!composer) return;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const fetchHeaders = { "X-Requested-With": "fetch" };
  const contactId = document.body.dataset.contactId;
  const textarea = composer.querySelector("#compose-text");
  const editor = composer.querySelector("[data-rich-editor]");
  const htmlField = composer.querySelector("[data-rich-html]");
  const toolbar = composer.querySelector("[data-rich-toolbar]");
  const toggle = composer.querySelector("[data-rich-toggle]");
  const buttons = composer.querySelector("[data-rich-buttons]");
  const contextField = composer.querySelector("[data-draft-context]");
  const draftStatus = composer.querySelector("[data-draft-status]");
  const dialog = composer.querySelector("[data-link-dialog]");
  let rich = false;

  // ---- the rich-text editor ----
  const escapeHtml = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const textToHtml = (s) => escapeHtml(s).replace(/\n/g, "<br>");

  // What a paste may bring in: the toolbar's formatting and nothing else (the server cleans again).
  const ALLOWED = new Set(["B", "STRONG", "I", "EM", "U", "A", "UL", "OL", "LI", "P", "DIV", "BR", "BLOCKQUOTE"]);
  const DROPPED = new Set(["SCRIPT", "STYLE", "IFRAME", "OBJECT", "EMBED", "TEMPLATE", "NOSCRIPT", "SVG", "MATH", "HEAD", "TITLE", "META", "LINK"]);
  function safeUrl(raw) {
    let value = (raw || "").trim();
    if (!value) return null;
    if (!/^[a-z][a-z0-9+.-]*:/i.test(value)) value = value.includes("@") && !value.includes("/") ? `mailto:${value}` : `https://${value}`;
    try {
      const url = new URL(value);
      return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.href : null;
    } catch {
      return null;
    }
  }
  function cleanNode(node, into) {
    for (const child of [...node.childNodes]) {
      if (child.nodeType === Node.TEXT_NODE) {
        into.append(document.createTextNode(child.textContent));
      } else if (child.nodeType === Node.ELEMENT_NODE && !DROPPED.has(child.tagName)) {
        if (!ALLOWED.has(child.tagName)) {
          cleanNode(child, into); // unknown wrapper (span, font…): keep its text, drop the tag
          continue;
        }
        const href = child.tagName === "A" ? safeUrl(child.getAttribute("href")) : null;
        if (child.tagName === "A" && !href) {
          cleanNode(child, into); // a link to nowhere safe (javascript:…): its words only
          continue;
        }
        const copy = document.createElement(child.tagName);
        if (href) copy.setAttribute("href", href);
        cleanNode(child, copy);
        into.append(copy);
      }
    }
  }
  function cleanHtml(html) {
    const parsed = new DOMParser().parseFromString(html, "text/html"); // inert: nothing runs or loads
    const box = document.createElement("div");
    cleanNode(parsed.body, box);
    return box.innerHTML;
  }

  function sync() {
    if (!rich) return;
    htmlField.value = editor.textContent.trim() || editor.querySelector("li") ? cleanHtml(editor.innerHTML) : "";
    textarea.value = editor.innerText;
  }

  function setRich(on) {
    rich = on;
    toggle.setAttribute("aria-pressed", String(on));
    buttons.hidden = !on;
    editor.hidden = !on;
    textarea.hidden = on;
    if (on) {
      editor.innerHTML = htmlField.value ? cleanHtml(htmlField.value) : textToHtml(textarea.value);
      sync();
    } else {
      textarea.value = editor.innerText;
      htmlField.value = "";
    }
  }

  function pressed() {
    composer.querySelectorAll("[data-rich]").forEach((b) => {
      let on = false;
      try {
        on = document.queryCommandState(b.dataset.rich);
      } catch {}
      b.setAttribute("aria-pressed", String(on && editor.contains(getSelection().anchorNode)));
    });
  }

  if (editor && toolbar) {
    toolbar.hidden = false;
    toggle.addEventListener("click", () => {
      setRich(!rich);
      (rich ? editor : textarea).focus();
    });
    composer.querySelectorAll("[data-rich]").forEach((b) =>
      b.addEventListener("click", () => {
        editor.focus();
        document.execCommand(b.dataset.rich);
        sync();
        pressed();
        editor.dispatchEvent(new Event("input", { bubbles: true }));
      }),
    );
    editor.addEventListener("input", sync);
    editor.addEventListener("keyup", pressed);
    editor.addEventListener("mouseup", pressed);
    editor.addEventListener("keydown", (ev) => {
      if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "k") {
        ev.preventDefault();
        openLink();
      }
    });
    editor.addEventListener("paste", (ev) => {
      const data = ev.clipboardData;
      if (!data) return;
      ev.preventDefault();
      const html = data.getData("text/html");
      const clean = html ? cleanHtml(html) : textToHtml(data.getData("text/plain"));
      document.execCommand("insertHTML", false, clean);
      sync();
    });
    // A template inserted into the textarea (templates.js) while formatting is on: shown here.
    textarea.addEventListener("input", () => {
      if (rich) editor.innerHTML = textToHtml(textarea.value);
      if (rich) sync();
    });
    if (htmlField.value) setRich(true); // a restored draft that was formatted
  }

  // ---- the link dialog: web and email addresses only (never javascript:) ----
  let savedRange = null;
  function openLink() {
    const selection = getSelection();
    savedRange = selection.rangeCount && editor.contains(selection.anchorNode) ? selection.getRangeAt(0).cloneRange() : null;
    dialog.querySelector("[data-link-error]").hidden = true;
    dialog.querySelector("[data-link-url]").value = "";
    dialog.querySelector("[data-link-url]").removeAttribute("aria-invalid");
    dialog.showModal();
    dialog.querySelector("[data-link-url]").focus();
  }
  function addLink() {
    const input = dialog.querySelector("[data-link-url]");
    const url = safeUrl(input.value);
    const error = dialog.querySelector("[data-link-error]");
    if (!url) {
      error.textContent = "Add a web address (https://…) or an email address; other kinds of links are not allowed.";
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    dialog.close();
    editor.focus();
    const selection = getSelection();
    selection.removeAllRanges();
    if (savedRange) selection.addRange(savedRange);
    else {
      const end = document.createRange();
      end.selectNodeContents(editor);
      end.collapse(false);
      selection.addRange(end);
    }
    if (selection.isCollapsed) document.execCommand("insertHTML", false, `<a href="${escapeHtml(url).replace(/"/g, "&quot;")}">${escapeHtml(url.replace(/^mailto:/, ""))}</a>`);
    else document.execCommand("createLink", false, url);
    sync();
    editor.dispatchEvent(new Event("input", { bubbles: true }));
  }
  if (dialog) {
    composer.querySelector("[data-rich-link]")?.addEventListener("click", openLink);
    dialog.querySelector("[data-link-add]").addEventListener("click", addLink);
    dialog.querySelector("[data-link-url]").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        addLink();
      }
    });
    dialog.querySelector("[data-link-cancel]").addEventListener("click", () => {
      dialog.close();
      editor.focus();
    });
  }

  // ---- drafts: saved a second after typing stops, per composer (new, reply:<id>, forward:<id>) ----
  let saveTimer = null;
  let sending = false;
  async function saveDraft() {
    if (sending || !contactId) return;
    sync();
    const form = new FormData(composer);
    form.delete("attachments");
    form.delete("send_at");
    const response = await fetch(`/contacts/${contactId}/draft`, {
      method: "POST",
      body: form,
      headers: { ...fetchHeaders, "X-CSRF-Token": csrf },
      credentials: "same-origin",
    }).catch(() => null);
    if (draftStatus) draftStatus.textContent = response?.ok ? "Draft saved" : "Draft not saved";
  }
  composer.addEventListener("input", (ev) => {
    if (ev.target.type === "file" || ev.target.matches?.("[data-send-later]")) return;
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveDraft, 1000);
  });
  composer.addEventListener("change", (ev) => {
    if (ev.target.name === "forward_attachments") {
      clearTimeout(saveTimer);
      saveTimer = setTimeout(saveDraft, 300);
    }
  });
  composer.addEventListener("submit", (ev) => {
    clearTimeout(saveTimer);
    sync();
    if (ev.submitter?.matches("[data-discard-draft]")) {
      ev.stopImmediatePropagation();
      ev.preventDefault();
      discard();
      return;
    }
    sending = true;
  }, true);

  function fresh() {
    textarea.value = composer.dataset.freshText || "";
    htmlField.value = "";
    if (rich) editor.innerHTML = textToHtml(textarea.value);
    if (rich) sync();
    composer.querySelector("[data-draft-restored]")?.remove();
    composer.querySelector("[data-discard-draft]")?.remove();
    if (draftStatus) draftStatus.textContent = "";
  }
  async function discard() {
    const form = new FormData();
    form.set("draft_context", contextField.value);
    await fetch(`/contacts/${contactId}/draft/discard`, {
      method: "POST",
      body: form,
      headers: { ...fetchHeaders, "X-CSRF-Token": csrf },
      credentials: "same-origin",
    }).catch(() => null);
    document.dispatchEvent(new CustomEvent("inboxlink:new-composer"));
    fresh();
    textarea.focus();
  }
  document.addEventListener("inboxlink:sent", () => {
    sending = false;
    fresh();
  });
  document.addEventListener("inboxlink:send-failed", () => {
    sending = false;
  });
  // Reply on the same page (app.js switched the composer): that reply's own draft, if one was saved.
  document.addEventListener("inboxlink:composing", async (ev) => {
    // What was typed stays (as before drafts existed) unless that reply has a draft of its own.
    const context = ev.detail.context;
    const response = await fetch(`/contacts/${contactId}/draft?context=${encodeURIComponent(context)}`, { headers: fetchHeaders, credentials: "same-origin" }).catch(() => null);
    if (!response?.ok || contextField.value !== context) return;
    const { draft } = await response.json();
    for (const name of ["to", "cc", "subject"]) composer.querySelector(`[name="${name}"]`).value = draft[name];
    textarea.value = draft.text;
    htmlField.value = draft.html;
    if (draft.html || rich) setRich(Boolean(draft.html) || rich);
  });
})();
