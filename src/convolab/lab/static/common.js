// convolab lab: shared helpers (no framework, no build step, nothing loaded from the internet).
"use strict";

const LAB = {
  panels: {},   // name -> {activate()} registered by each panel script

  async api(path, body) {
    const opts = body === undefined ? {} :
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (err) {
      throw new Error("the lab server is not reachable (" + err.message + ")");
    }
    let data;
    try { data = await resp.json(); } catch (err) { data = { error: "bad answer from server: " + resp.status }; }
    if (!resp.ok) throw new Error(data.error || ("HTTP " + resp.status));
    return data;
  },

  showError(el, message) {
    if (message) { el.textContent = message; el.hidden = false; } else { el.textContent = ""; el.hidden = true; }
  },

  debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  },

  status(text) { document.getElementById("status").textContent = text || ""; },

  // Draw a matrix of numbers as grey cells (white = hi, black = lo unless invert), optionally with the
  // numbers written in and some cells outlined. Returns the cell size in CSS pixels.
  drawMatrix(canvas, m, opts = {}) {
    const h = m.length, w = h ? m[0].length : 0;
    const cell = opts.cell || Math.max(4, Math.min(48, Math.floor((opts.size || 280) / Math.max(h, w, 1))));
    canvas.width = w * cell; canvas.height = h * cell;
    const ctx = canvas.getContext("2d");
    let lo = opts.lo, hi = opts.hi;
    if (lo === undefined || hi === undefined) {
      const flat = m.flat();
      lo = Math.min(...flat, 0); hi = Math.max(...flat, 1e-9);
    }
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        let t = hi > lo ? (m[r][c] - lo) / (hi - lo) : 0;
        t = Math.max(0, Math.min(1, t));
        const g = Math.round(opts.invert ? 255 * (1 - t) : 255 * t);
        ctx.fillStyle = `rgb(${g},${g},${g})`;
        ctx.fillRect(c * cell, r * cell, cell, cell);
      }
    }
    if (opts.numbers && cell >= 22) {
      ctx.font = `${Math.floor(cell / 2.6)}px ui-monospace, monospace`;
      ctx.textAlign = "center"; ctx.textBaseline = "middle";
      for (let r = 0; r < h; r++) {
        for (let c = 0; c < w; c++) {
          const t = hi > lo ? (m[r][c] - lo) / (hi - lo) : 0;
          ctx.fillStyle = (opts.invert ? 1 - t : t) > 0.55 ? "#111" : "#eee";
          ctx.fillText(LAB.fmt(m[r][c]), c * cell + cell / 2, r * cell + cell / 2);
        }
      }
    }
    if (cell >= 8) {
      ctx.strokeStyle = "rgba(128,128,128,0.35)"; ctx.lineWidth = 1;
      for (let r = 0; r <= h; r++) { ctx.beginPath(); ctx.moveTo(0, r * cell + .5); ctx.lineTo(w * cell, r * cell + .5); ctx.stroke(); }
      for (let c = 0; c <= w; c++) { ctx.beginPath(); ctx.moveTo(c * cell + .5, 0); ctx.lineTo(c * cell + .5, h * cell); ctx.stroke(); }
    }
    for (const [r, c] of opts.outline || []) {
      ctx.strokeStyle = "#f59e0b"; ctx.lineWidth = 3;
      ctx.strokeRect(c * cell + 1.5, r * cell + 1.5, cell - 3, cell - 3);
    }
    return cell;
  },

  fmt(v) {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
  },

  int(n) { return Number(n).toLocaleString("en-US"); },
};

// Tabs: show one panel; a panel loads its data the first time it is shown.
document.addEventListener("DOMContentLoaded", () => {
  const activated = new Set();
  function show(name) {
    document.querySelectorAll("#tabs button").forEach(b => b.classList.toggle("active", b.dataset.panel === name));
    document.querySelectorAll(".panel").forEach(p => p.classList.toggle("active", p.id === name));
    if (!activated.has(name) && LAB.panels[name]) { activated.add(name); LAB.panels[name].activate(); }
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
  }
  document.querySelectorAll("#tabs button").forEach(b => b.addEventListener("click", () => show(b.dataset.panel)));
  const first = location.hash.slice(1);
  show(LAB.panels[first] ? first : "designer");
});
