// The global search box: answers while typing (GET /search with Accept: application/json), the
// newest request wins; without JavaScript the form opens the /search page.
(() => {
  "use strict";
  const form = document.querySelector("[data-global-search]");
  if (!form) return;
  const input = form.querySelector("input[name=q]");
  const box = form.querySelector("#global-results");
  let timer = null;
  let seq = 0;
  const link = (href, label, detail, snippet) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = href;
    a.textContent = label;
    li.append(a);
    if (detail) {
      const span = document.createElement("span");
      span.className = "muted";
      span.textContent = " " + detail;
      li.append(span);
    }
    if (snippet) {
      // The words around the match in the email's body (text only: textContent, never HTML).
      const p = document.createElement("span");
      p.className = "hit-snippet";
      p.textContent = snippet;
      li.append(p);
    }
    return li;
  };
  const group = (title, items) => {
    if (!items.length) return null;
    const section = document.createElement("div");
    const h = document.createElement("p");
    h.className = "results-h";
    h.textContent = title;
    const ul = document.createElement("ul");
    ul.className = "plain-list";
    items.forEach((li) => ul.append(li));
    section.append(h, ul);
    return section;
  };
  const render = (found) => {
    const parts = [
      group("Contacts", found.contacts.map((c) => link(`/contacts/${c.id}`, c.name || c.email, c.email))),
      group("Companies", found.companies.map((c) => link(`/companies/${c.id}`, c.name, c.domain || ""))),
      group("Deals", found.deals.map((d) => link(`/deals/${d.id}`, d.name, d.stage_label))),
      group("Emails", found.emails.map((e) =>
        link(e.contact_id ? `/contacts/${e.contact_id}#email-${e.id}` : `/search?q=${encodeURIComponent(input.value)}`,
             e.subject || "(no subject)", e.from, e.snippet))),
    ].filter(Boolean);
    box.replaceChildren(...parts);
    if (!parts.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "Nothing matches.";
      box.append(p);
    }
    box.hidden = false;
  };
  const ask = async () => {
    const q = input.value.trim();
    const mine = ++seq;
    if (q.length < 2) {
      box.hidden = true;
      return;
    }
    try {
      const resp = await fetch(`/search?q=${encodeURIComponent(q)}`, {
        headers: { Accept: "application/json", "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      if (!resp.ok || mine !== seq) return;
      render(await resp.json());
    } catch (_) {
      /* offline: the form still works */
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") box.hidden = true;
  });
})();
