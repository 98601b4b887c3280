// The widget test page's stand-in for anywidget's front-end model (see widget_page.py).
async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  return r.json();
}
async function mount(name) {
  const state = await (await fetch("/state/" + name)).json();
  const listeners = {}, dirty = {};
  const emit = (event, ...args) => (listeners[event] || []).forEach(f => f(...args));
  const model = {
    get: key => state[key],
    set(key, value) { state[key] = value; dirty[key] = value; emit("change:" + key); },
    on(event, f) { (listeners[event] = listeners[event] || []).push(f); },
    off(event, f) { listeners[event] = (listeners[event] || []).filter(g => g !== f); },
    save_changes() {
      const body = { ...dirty };
      for (const k in dirty) delete dirty[k];
      window.pending.push(post("/set/" + name, body));
    },
    send(content) {
      const answer = post("/msg/" + name, content);
      window.pending.push(answer.then(replies => replies.forEach(r => emit("msg:custom", r, []))));
    },
  };
  const style = document.createElement("style");
  style.textContent = state._css;
  document.head.append(style);
  const url = URL.createObjectURL(new Blob([state._esm], { type: "text/javascript" }));
  const mod = await import(url);
  await mod.default.render({ model, el: document.getElementById(name) });
  window.models[name] = model;
}
window.models = {};
window.pending = [];
window.settled = async () => { while (window.pending.length) await window.pending.shift(); return true; };
Promise.all(window.WIDGETS.map(mount)).then(() => { document.body.dataset.ready = "1"; },
  err => { document.body.dataset.error = String(err && err.stack || err); });
