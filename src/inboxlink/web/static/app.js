// inboxlink web UI: progressive enhancement only; every form also works without this file.
(() => {
  "use strict";

  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const fetchHeaders = { "X-Requested-With": "fetch" };
  const body = document.body;
  const contactId = body.dataset.contactId;
  // The timeline is paged (?before=…): a live refresh re-fetches the page being read.
  const timelineUrl = () => {
    const params = new URLSearchParams(location.search);
    const kept = new URLSearchParams();
    for (const key of ["before", "show"]) if (params.get(key)) kept.set(key, params.get(key)); // show: issue 14's filters
    return `/contacts/${contactId}/timeline` + (kept.size ? `?${kept}` : "");
  };
  const composer = document.querySelector("form[data-composer]"); // on a contact's record
  const imagesLoaded = new Set(); // emails whose remote images the reader asked for
  const timers = {};

  function later(key, fn, ms = 200) {
    clearTimeout(timers[key]);
    timers[key] = setTimeout(fn, ms);
  }

  // ---- times: the server writes UTC, the reader sees local time ----
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function localTimes(root) {
    root.querySelectorAll("time.local[datetime]").forEach((el) => {
      if (el.title) return; // relative times ("5 minutes ago") keep their text
      const d = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(d.getTime())) el.textContent = dateFormat.format(d);
    });
  }

  // ---- live fragments: replace every [data-live][id] element the server sends back ----
  async function swap(url) {
    const response = await fetch(url, { headers: fetchHeaders, credentials: "same-origin" });
    if (!response.ok) return;
    const tpl = document.createElement("template");
    tpl.innerHTML = await response.text();
    const focusedId = document.activeElement?.id;
    const known = new Set([...document.querySelectorAll(".email[data-email-id]")].map((e) => e.dataset.emailId));
    tpl.content.querySelectorAll("[data-live][id]").forEach((fresh) => {
      const old = document.getElementById(fresh.id);
      if (!old) return;
      old.replaceWith(fresh);
      enhance(fresh);
      fresh.querySelectorAll(".email[data-email-id]").forEach((e) => {
        if (known.size && !known.has(e.dataset.emailId)) e.classList.add("is-new");
      });
    });
    if (focusedId && document.activeElement === body) document.getElementById(focusedId)?.focus();
    document.dispatchEvent(new CustomEvent("inboxlink:swapped", { detail: { url } })); // replies.js
  }

  function enhance(root) {
    localTimes(root);
    root.querySelectorAll("[data-email-id]").forEach((e) => {
      if (imagesLoaded.has(e.dataset.emailId)) showImages(e.dataset.emailId);
    });
  }

  // ---- remote images: the frame has no scripts, so the parent rewrites its srcdoc ----
  function showImages(emailId) {
    const email = document.getElementById(`email-${emailId}`);
    const frame = email?.querySelector("iframe.email-frame");
    if (!frame || frame.dataset.imagesShown) return;
    frame.dataset.imagesShown = "1";
    frame.srcdoc = frame
      .getAttribute("srcdoc")
      .replaceAll(' data-remote-src="', ' src="')
      .replace("img-src data:", "img-src data: https: http:");
    const note = email.querySelector("[data-remote-note]");
    if (note) note.hidden = true;
  }

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-load-images]");
    if (button) {
      imagesLoaded.add(button.dataset.loadImages);
      showImages(button.dataset.loadImages);
      return;
    }
    const opener = ev.target.closest("[data-open-composer]");
    if (opener) {
      if (openComposer("compose-subject")) ev.preventDefault();
      return;
    }
    const reply = ev.target.closest("[data-reply]");
    if (reply && composer) {
      // Same page, no reload: the composer answers this email (the link's href is the no-JS way).
      ev.preventDefault();
      setReply(reply);
      openComposer("compose-text");
      return;
    }
    const cancel = ev.target.closest("[data-cancel-reply]");
    if (cancel && composer) {
      ev.preventDefault();
      setReply(null);
      document.getElementById("compose-to")?.focus();
      return;
    }
    const copy = ev.target.closest("[data-copy]");
    if (copy) copyValue(copy);
  });

  // ---- the composer: send with fetch, then follow queued → sent / failed ----
  const statusBox = document.querySelector("[data-compose-status]");
  let watching = null;
  let pollTimer = null;

  function openComposer(focusId) {
    const details = document.getElementById("composer");
    if (!details) return false;
    details.open = true;
    details.scrollIntoView({ block: "start" });
    (document.getElementById(focusId) || details.querySelector("summary")).focus();
    return true;
  }

  // A reply: To = who wrote that email, "Re: …", and its id in a hidden field; null = a new email.
  function setReply(link) {
    const field = (name) => composer.querySelector(`[name="${name}"]`);
    const d = link ? link.dataset : {};
    field("to").value = d.replyTo || composer.dataset.defaultTo;
    field("cc").value = d.replyCc || ""; // Reply all: everyone else on the email (issue 14 item 6)
    field("subject").value = link ? d.replySubject : "";
    field("in_reply_to_email_id").value = link ? d.reply : "";
    field("forward_of_email_id").value = ""; // a reply is never a forward too
    composer.querySelector("[data-forward-note]")?.remove();
    field("draft_context").value = link ? `reply:${d.reply}` : "new";
    if (link) document.dispatchEvent(new CustomEvent("inboxlink:composing", { detail: { context: `reply:${d.reply}` } })); // writing.js
    const note = composer.querySelector("[data-reply-note]");
    note.hidden = !link;
    note.querySelector("[data-reply-label]").textContent = d.replyLabel || "";
    field("text").setAttribute("aria-describedby", `${link ? "compose-reply-note " : ""}compose-text-error`);
    clearErrors(composer);
  }

  function showStatus(view) {
    if (!statusBox) return;
    statusBox.hidden = false;
    statusBox.dataset.emailId = view.id;
    statusBox.dataset.state = view.state;
    statusBox.className = `compose-status status-${view.state}`;
    const label = statusBox.querySelector("[data-status-label]");
    label.textContent = view.label;
    label.className = `pill pill-${view.state}`;
    statusBox.querySelector("[data-status-detail]").textContent = view.detail;
    if (view.state !== "queued") stopWatching();
  }

  async function refreshStatus() {
    if (!watching) return;
    const response = await fetch(`/emails/${watching}/status`, { headers: fetchHeaders });
    if (response.ok) showStatus(await response.json());
  }

  function watch(emailId) {
    watching = String(emailId);
    clearInterval(pollTimer);
    // Polling backs up the event stream (a worker in another process publishes no events here).
    pollTimer = setInterval(refreshStatus, 2500);
    setTimeout(stopWatching, 10 * 60 * 1000);
  }

  function stopWatching() {
    watching = null;
    clearInterval(pollTimer);
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach((p) => {
      p.hidden = true;
      p.textContent = "";
    });
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    form.querySelectorAll(".has-error").forEach((el) => el.classList.remove("has-error"));
  }

  function showError(form, field, message) {
    const target = form.querySelector(`[data-error-for="compose-${field}"]`) || form.querySelector('[data-error-for="compose-form"]');
    target.textContent = message;
    target.hidden = false;
    const input = document.getElementById(`compose-${field}`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.closest(".field")?.classList.add("has-error");
      input.focus();
    }
  }

  if (composer && statusBox && statusBox.dataset.state === "queued") watch(statusBox.dataset.emailId);

  composer?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = composer.querySelector("[data-send]");
    clearErrors(composer);
    button.disabled = true;
    button.textContent = "Sending…";
    try {
      const response = await fetch(composer.action, {
        method: "POST",
        body: new FormData(composer),
        headers: { ...fetchHeaders, "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      const data = await response.json().catch(() => null);
      if (response.ok && data?.email) {
        composer.reset();
        setReply(null);
        document.dispatchEvent(new CustomEvent("inboxlink:sent")); // writing.js: a fresh composer
        showStatus(data.email);
        statusBox?.focus(); // not the body: the keyboard stays where the outcome is told
        if (data.email.state === "queued") watch(data.email.id);
        if (contactId) swap(timelineUrl());
      } else {
        document.dispatchEvent(new CustomEvent("inboxlink:send-failed"));
        const error = data?.error || {};
        showError(composer, error.field || "form", error.message || "The email could not be sent. Try again.");
      }
    } catch {
      document.dispatchEvent(new CustomEvent("inboxlink:send-failed"));
      showError(composer, "form", "The server could not be reached. Check your connection and try again.");
    } finally {
      button.disabled = false;
      button.textContent = "Send";
    }
  });

  // ---- server-sent events ----
  if (body.dataset.events && "EventSource" in window) {
    const events = new EventSource(body.dataset.events);
    let opened = 0;
    events.addEventListener("open", () => {
      // After a dropped connection events may have been missed: catch up once.
      if (opened++ > 0) refreshAll();
    });
    events.addEventListener("email", (ev) => {
      const data = JSON.parse(ev.data);
      document.dispatchEvent(new CustomEvent("inboxlink:email", { detail: data })); // replies.js
      if (contactId) later("timeline", () => swap(timelineUrl()));
      if (watching && String(data.email_id) === watching) refreshStatus();
    });
    events.addEventListener("inbox", () => {
      later("inbox", refreshInboxes, 100);
      document.dispatchEvent(new CustomEvent("inboxlink:inbox"));
    });
  }

  function refreshInboxes() {
    swap("/banner");
    if (document.getElementById("inbox-list") && !document.getElementById("inbox-list").contains(document.activeElement)) {
      swap("/settings/inboxes");
    }
  }

  function refreshAll() {
    refreshInboxes();
    if (contactId) swap(timelineUrl());
    refreshStatus();
  }

  // ---- connect form: provider presets and the POP3 explanation ----
  const connect = document.querySelector("form[data-connect]");
  if (connect) {
    const preset = connect.querySelector("#preset");
    const hint = connect.querySelector("[data-preset-hint]");
    const defaultHint = hint?.textContent || "";
    preset?.addEventListener("change", () => {
      const option = preset.selectedOptions[0];
      const d = option.dataset;
      if (option.value !== "other") {
        for (const side of ["imap", "smtp"]) {
          connect.querySelector(`#${side}_host`).value = d[`${side}Host`];
          connect.querySelector(`#${side}_port`).value = d[`${side}Port`];
          connect.querySelector(`#${side}_security`).value = d[`${side}Security`];
        }
      }
      hint.textContent = d.hint || defaultHint;
    });

    const note = connect.querySelector("[data-pop3-note]");
    const serverFields = connect.querySelector("[data-server-fields]");
    const submit = connect.querySelector("[data-connect-submit]");
    connect.querySelectorAll('input[name="protocol"]').forEach((radio) =>
      radio.addEventListener("change", () => {
        const pop3 = connect.querySelector('input[name="protocol"]:checked')?.value === "pop3";
        note.hidden = !pop3;
        serverFields.hidden = pop3;
        submit.disabled = pop3;
      }),
    );

    connect.addEventListener("submit", () => {
      // The check signs in to two servers: say so, and prevent a double submit.
      submit.disabled = true;
      connect.querySelector("[data-connect-progress]").hidden = false;
    });
  }

  // ---- copy the BCC address ----
  async function copyValue(button) {
    const source = document.getElementById(button.dataset.copy);
    const status = document.querySelector("[data-copy-status]");
    const label = button.textContent;
    let ok = false;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      ok = true;
    } catch {
      // No clipboard API (plain http on another host): select the text and try the old way.
      const range = document.createRange();
      range.selectNodeContents(source);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      ok = document.execCommand?.("copy") ?? false;
    }
    button.textContent = ok ? "Copied" : label;
    if (status) status.textContent = ok ? "Copied to the clipboard." : "Selected: press Ctrl+C (⌘C) to copy.";
    setTimeout(() => (button.textContent = label), 2000);
  }

  enhance(document);
})();
