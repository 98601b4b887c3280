// convolab lab: the page's tabs (common.js holds the helpers, which the notebook widgets share).
"use strict";

// Tabs (ARIA tab pattern: arrow keys move between tabs): show one panel; a panel loads its data the
// first time it is shown, with the state from the URL when the page was opened on it.
document.addEventListener("DOMContentLoaded", () => {
  const activated = new Set();
  const tabs = [...document.querySelectorAll("#tabs button")];
  tabs.forEach(b => {
    b.setAttribute("role", "tab");
    b.id = b.id || "tab-" + b.dataset.panel;
    b.setAttribute("aria-controls", b.dataset.panel);
    const panel = document.getElementById(b.dataset.panel);
    if (panel) { panel.setAttribute("role", "tabpanel"); panel.setAttribute("aria-labelledby", b.id); }
  });
  function show(name, state, focusTab) {
    tabs.forEach(b => {
      const on = b.dataset.panel === name;
      b.classList.toggle("active", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
      if (on && focusTab) b.focus();
    });
    document.querySelectorAll(".panel").forEach(p => { p.classList.toggle("active", p.id === name); p.hidden = p.id !== name; });
    const panel = LAB.panels[name];
    if (!activated.has(name) && panel) { activated.add(name); panel.activate(state); }
    else if (state && panel && panel.show) panel.show(state);
    // back on a panel: its current state goes back into the URL (a reload restores what is shown)
    if (!state && panel && panel.state && activated.has(name)) LAB.saveState(name, panel.state());
    else if (!state && LAB.readState().panel !== name) history.replaceState(null, "", "#" + name);
  }
  LAB.open = (name, state) => show(name, state);
  tabs.forEach((b, i) => {
    b.addEventListener("click", () => show(b.dataset.panel));
    b.addEventListener("keydown", ev => {
      const step = { ArrowRight: 1, ArrowLeft: -1, Home: -i, End: tabs.length - 1 - i }[ev.key];
      if (step === undefined) return;
      ev.preventDefault();
      show(tabs[(i + step + tabs.length) % tabs.length].dataset.panel, undefined, true);
    });
  });
  function fromUrl() {
    const { panel, state } = LAB.readState();
    if (LAB.panels[panel]) show(panel, Object.keys(state).length ? state : undefined);
    else show("designer");
  }
  window.addEventListener("hashchange", fromUrl);  // a link to another state of the page
  fromUrl();
});
