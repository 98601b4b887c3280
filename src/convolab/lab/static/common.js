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

  // A number input's value; an empty or non-numeric field is an error, never 0.
  readNumber(el, name) {
    const text = el.value.trim();
    if (text === "" || !Number.isFinite(Number(text))) throw new Error(`${name}: enter a number`);
    return Number(text);
  },
  readInt(el, name) {
    const v = LAB.readNumber(el, name);
    if (!Number.isInteger(v)) throw new Error(`${name}: enter a whole number`);
    return v;
  },

  // Results that no longer match the inputs (after an error) are dimmed and labelled "stale".
  markStale(el, on) {
    if (!el) return;
    el.classList.toggle("stale", !!on);
    if (on) el.setAttribute("data-stale", "1"); else el.removeAttribute("data-stale");
  },

  // A request for this result is under way (data-busy; tests and scripts wait for it to go).
  busy(el, on) { if (on) el.setAttribute("data-busy", "1"); else el.removeAttribute("data-busy"); },

  // The page's state lives in the URL: #panel?key=value&... (a reload or a shared link restores it).
  saveState(panel, state) {
    // a panel in the background (an answer that arrives after the user moved on) does not take the URL
    const el = document.getElementById(panel);
    if (el && el.hidden) return;
    const clean = {};
    for (const [k, v] of Object.entries(state || {})) if (v !== undefined && v !== null && v !== "") clean[k] = String(v);
    const query = new URLSearchParams(clean).toString();
    const hash = "#" + panel + (query ? "?" + query : "");
    if (location.hash !== hash) history.replaceState(null, "", hash);
  },
  readState() {
    const hash = location.hash.slice(1), at = hash.indexOf("?");
    const [panel, query] = at < 0 ? [hash, ""] : [hash.slice(0, at), hash.slice(at + 1)];
    return { panel, state: Object.fromEntries(new URLSearchParams(query)) };
  },

  // Restoring a select from the URL: only to one of its own options (a stale link keeps the default).
  setChoice(el, value) {
    if (value === undefined || value === null) return false;
    const opt = [...el.options].find(o => o.value === String(value) && !o.disabled);
    if (opt) el.value = opt.value;
    return !!opt;
  },
  // A matrix in the URL: rows split by ";", values by ","; null when it is not a rows x cols grid of numbers.
  packMatrix(m) { return m.map(row => row.join(",")).join(";"); },
  unpackMatrix(text, rows, cols) {
    if (typeof text !== "string" || !text) return null;
    const m = text.split(";").map(r => r.split(",").map(v => (v.trim() === "" ? NaN : Number(v))));
    if ((rows !== undefined && m.length !== rows) || m.some(r => r.some(v => !Number.isFinite(v)))) return null;
    if (m.some(r => r.length !== (cols === undefined ? m[0].length : cols))) return null;
    return m;
  },

  // The cell size that fits an h x w grid in the canvas's container (at most 280 px, 2..40 px a cell).
  cellSize(canvas, h, w) {
    const room = Math.min(280, (canvas.parentElement && canvas.parentElement.clientWidth) || 280);
    return Math.max(2, Math.min(40, Math.floor(room / Math.max(h, w, 1))));
  },

  // A soft round brush about 3 pixels wide, like a pen stroke in MNIST's 28x28 digits.
  brush(pixels, x, y) {
    const n = pixels.length;
    for (let r = Math.floor(y - 2); r <= Math.ceil(y + 2); r++) {
      for (let c = Math.floor(x - 2); c <= Math.ceil(x + 2); c++) {
        if (r < 0 || c < 0 || r >= n || c >= n) continue;
        const d = Math.hypot(r + 0.5 - y, c + 0.5 - x);
        pixels[r][c] = Math.max(pixels[r][c], Math.max(0, Math.min(1, 2.0 - d)));
      }
    }
  },

  // An h x w matrix resized bilinearly, sampling at pixel centres (as Pillow and PyTorch's
  // align_corners=False do when enlarging): a 28x28 drawing for a run whose input is larger.
  resizeBilinear(m, h, w) {
    const H = m.length, W = m[0].length, out = [];
    const at = (v, n) => Math.max(0, Math.min(n - 1, v));
    for (let r = 0; r < h; r++) {
      const y = at((r + 0.5) * H / h - 0.5, H), y0 = Math.floor(y), y1 = Math.min(H - 1, y0 + 1), fy = y - y0;
      const row = [];
      for (let c = 0; c < w; c++) {
        const x = at((c + 0.5) * W / w - 0.5, W), x0 = Math.floor(x), x1 = Math.min(W - 1, x0 + 1), fx = x - x0;
        row.push((m[y0][x0] * (1 - fx) + m[y0][x1] * fx) * (1 - fy) + (m[y1][x0] * (1 - fx) + m[y1][x1] * fx) * fy);
      }
      out.push(row);
    }
    return out;
  },

  numberTable(m) {
    const table = document.createElement("table");
    table.className = "kernel";
    for (const row of m) {
      const tr = table.insertRow();
      for (const v of row) tr.insertCell().textContent = LAB.fmt4(v);
    }
    return table;
  },

  fmt4(v) { return Number(v).toPrecision(4).replace(/(\.\d*?)0+(e|$)/, "$1$2").replace(/\.(e|$)/, "$1"); },

  showError(el, message) {
    if (message) { el.textContent = message; el.hidden = false; } else { el.textContent = ""; el.hidden = true; }
  },

  // A dataset <select> from /api/datasets: only datasets whose test split is on this machine can be
  // chosen, the first of them is selected; returns its name, or null when none is here.
  datasetSelect(select, datasets) {
    select.replaceChildren(...datasets.map(d => {
      const opt = new Option(d.available ? d.name : d.name + " (not on this machine)", d.name);
      opt.disabled = !d.available;
      return opt;
    }));
    const ready = datasets.find(d => d.available);
    if (ready) select.value = ready.name;
    return ready ? ready.name : null;
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
          let t = hi > lo ? (m[r][c] - lo) / (hi - lo) : 0;
          t = Math.max(0, Math.min(1, opts.invert ? 1 - t : t));
          // black on cells of grey >= 118, white below: contrast >= 4.5:1 either way (WCAG)
          ctx.fillStyle = Math.round(255 * t) >= 118 ? "#000" : "#fff";
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
