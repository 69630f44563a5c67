// inboxlink web UI, issue 14: never miss a reply, errors first, emails shown whole.
// Progressive enhancement only; app.js owns the event stream and re-dispatches its events here.
(() => {
  "use strict";

  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const announcer = document.querySelector("[data-announcer]");
  const badge = document.querySelector("[data-unread-badge]");
  const noteBadge = document.querySelector("[data-notification-badge]");
  const baseTitle = document.title.replace(/^\(\d+\) /, "");
  let unread = badge && !badge.hidden ? parseInt(badge.textContent, 10) || 0 : 0;
  let refreshTimer = null;

  // ---- a polite announcement: emptied first so the same words are read again ----
  function announce(text) {
    if (!announcer) return;
    announcer.textContent = "";
    setTimeout(() => (announcer.textContent = text), 60);
  }

  function setBadge(el, count, word) {
    if (!el) return;
    el.hidden = count < 1;
    el.textContent = String(count);
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = ` ${word}`;
    el.append(hidden);
  }

  function showCounts(state) {
    setBadge(badge, state.unread, "unread");
    setBadge(noteBadge, state.notifications, "open");
    document.title = state.unread > 0 ? `(${state.unread}) ${baseTitle}` : baseTitle;
  }

  async function refresh(announceNew) {
    const response = await fetch("/replies/state", { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" });
    if (!response.ok) return;
    const state = await response.json();
    if (announceNew && state.unread > unread && state.latest) {
      const who = state.latest.contact?.name || state.latest.from?.name || state.latest.from?.email || "a contact";
      announce(`New reply from ${who}: ${state.latest.subject || "(no subject)"}`);
    }
    unread = state.unread;
    showCounts(state);
  }

  function later(announceNew) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refresh(announceNew), 250);
  }

  document.addEventListener("inboxlink:email", () => later(true));
  document.addEventListener("inboxlink:inbox", () => later(false));
  if (badge) showCounts({ unread, notifications: noteBadge && !noteBadge.hidden ? parseInt(noteBadge.textContent, 10) || 0 : 0 });

  // ---- on a record: a reply that arrives live is read once it is seen (half in view, tab visible) ----
  const seenObserver =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              // Half of it in view, or a good part of the screen for an email taller than the screen.
              const enough = entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= window.innerHeight / 3;
              if (!entry.isIntersecting || !enough || document.visibilityState !== "visible") continue;
              const el = entry.target;
              seenObserver.unobserve(el);
              markSeen(el);
            }
          },
          { threshold: [0, 0.1, 0.25, 0.5, 0.75, 1] },
        )
      : null;

  async function markSeen(el) {
    const id = el.dataset.emailId;
    const response = await fetch(`/emails/${id}/seen`, {
      method: "POST",
      headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    if (!response.ok) return;
    const data = await response.json();
    el.removeAttribute("data-unread");
    unread = data.unread;
    showCounts({ unread, notifications: noteBadge && !noteBadge.hidden ? parseInt(noteBadge.textContent, 10) || 0 : 0 });
  }

  // A new reply below the fold: a cue that says so and takes the reader there.
  function cue(email) {
    const rect = email.getBoundingClientRect();
    if (rect.top < window.innerHeight && rect.bottom > 0) return; // already in view
    document.querySelector("[data-new-reply-cue]")?.remove();
    const who = email.querySelector(".email-from strong")?.textContent || "your contact";
    const box = document.createElement("div");
    box.className = "new-reply-cue";
    box.dataset.newReplyCue = "";
    const text = document.createElement("span");
    text.textContent = `New reply from ${who}`;
    const show = document.createElement("button");
    show.type = "button";
    show.className = "btn btn-small btn-quiet";
    show.textContent = "Show it";
    show.addEventListener("click", () => {
      email.setAttribute("tabindex", "-1");
      email.scrollIntoView({ block: "center" });
      email.focus();
      box.remove();
    });
    box.append(text, show);
    document.getElementById("main")?.append(box);
  }

  function watchUnread(root, fresh) {
    root.querySelectorAll(".email[data-unread]").forEach((email) => {
      seenObserver?.observe(email);
      if (fresh && email.classList.contains("is-in") && email.classList.contains("is-new")) cue(email);
    });
  }

  // ---- folded conversations: what the reader opened stays open when the timeline is re-fetched ----
  const openThreads = new Set();
  document.addEventListener(
    "toggle",
    (ev) => {
      const details = ev.target;
      if (!(details instanceof HTMLDetailsElement) || !details.matches("[data-thread-earlier]")) return;
      if (details.open) {
        openThreads.add(details.dataset.threadEarlier);
        details.querySelectorAll("iframe.email-frame[data-fit]").forEach(fit); // laid out only now
      } else {
        openThreads.delete(details.dataset.threadEarlier);
      }
    },
    true,
  );
  function openTarget() {
    // A link to one email (#email-N, from Replies or search) opens the fold it is in.
    const target = /^#email-\d+$/.test(location.hash) ? document.querySelector(location.hash) : null;
    const fold = target?.closest("details[data-thread-earlier]");
    if (fold && !fold.open) {
      fold.open = true;
      target.scrollIntoView({ block: "start" });
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  document.addEventListener("inboxlink:swapped", () => {
    const timeline = document.getElementById("timeline");
    if (timeline) {
      timeline.querySelectorAll("details[data-thread-earlier]").forEach((d) => {
        if (openThreads.has(d.dataset.threadEarlier)) d.open = true;
      });
      watchUnread(timeline, true);
    }
    document.querySelectorAll("iframe.email-frame[data-fit]").forEach(fit);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible" || !seenObserver) return;
    document.querySelectorAll(".email[data-unread]").forEach((email) => {
      seenObserver.unobserve(email);
      seenObserver.observe(email); // re-checked now that the tab is visible
    });
  });

  // ---- email frames as tall as their content; quoted history folded behind "…" ----
  const QUOTES = '.gmail_quote, blockquote[type="cite"], .yahoo_quoted, #divRplyFwdMsg, blockquote';

  function foldQuote(doc) {
    if (doc.documentElement.dataset.folded) return;
    doc.documentElement.dataset.folded = "1";
    const quote = doc.querySelector(QUOTES);
    if (!quote || !quote.parentNode) return;
    // Only history at the end: nothing the sender wrote follows it.
    let after = "";
    for (let n = quote.nextSibling; n; n = n.nextSibling) after += n.textContent || "";
    if (after.trim().length > 40) return;
    const details = doc.createElement("details");
    details.className = "il-quoted";
    const summary = doc.createElement("summary");
    summary.textContent = "…";
    summary.setAttribute("aria-label", "Show quoted history");
    summary.style.cssText = "cursor:pointer;display:inline-block;padding:0 .5em;border:1px solid #cfd4dc;border-radius:999px;color:#626a7a;font-weight:650;list-style:none";
    quote.replaceWith(details);
    details.append(summary, quote);
  }

  function fit(frame) {
    let doc;
    try {
      doc = frame.contentDocument;
    } catch {
      return; // not same-origin (an older page): the frame keeps its estimated height
    }
    if (!doc || !doc.body) return;
    foldQuote(doc);
    const height = Math.ceil(doc.documentElement.scrollHeight) + 2;
    frame.style.height = `${height}px`;
    frame.classList.add("is-sized");
    if (!frame.dataset.fitWatch) {
      frame.dataset.fitWatch = "1";
      doc.addEventListener("toggle", () => fit(frame), true); // the quote opened or closed
      // The keyboard inside the frame: the frame shows the ring (its own :focus is not reliable).
      doc.addEventListener("focusin", () => frame.classList.add("has-focus"));
      doc.addEventListener("focusout", () => frame.classList.remove("has-focus"));
    }
  }

  // Frame loads do not bubble, but they can be caught on the way down.
  document.addEventListener(
    "load",
    (ev) => {
      const frame = ev.target;
      if (frame instanceof HTMLIFrameElement && frame.matches("iframe.email-frame[data-fit]")) {
        delete frame.dataset.fitWatch;
        fit(frame);
      }
    },
    true,
  );
  window.addEventListener("resize", () => document.querySelectorAll("iframe.email-frame.is-sized").forEach(fit));
  document.querySelectorAll("iframe.email-frame[data-fit]").forEach(fit);

  // ---- forms: the error summary is the first thing read and seen ----
  const summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.scrollIntoView({ block: "start" });
    summary.focus();
  }

  // ---- Reconnect links (#reconnect-N): open that inbox's form and put the cursor in its password ----
  function reconnectTarget(hash) {
    const match = /^#reconnect-(\d+)$/.exec(hash || "");
    if (!match) return false;
    const box = document.getElementById(`reconnect-${match[1]}`);
    const field = document.getElementById(`reconnect-password-${match[1]}`);
    if (!box) return false;
    if (box.tagName === "DETAILS") box.open = true;
    box.scrollIntoView({ block: "center" });
    (field || box.querySelector("button, a"))?.focus();
    return true;
  }

  document.addEventListener("click", (ev) => {
    const link = ev.target.closest('a[href*="#reconnect-"]');
    if (!link) return;
    const url = new URL(link.href, location.href);
    if (url.pathname !== location.pathname) return; // another page: the hash is handled on arrival
    if (reconnectTarget(url.hash)) {
      ev.preventDefault();
      history.replaceState(null, "", url.hash);
    }
  });
  if (!summary) reconnectTarget(location.hash);
})();
