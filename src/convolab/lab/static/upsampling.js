// Upsampling: one editable grid through nearest, bed of nails, max unpooling and transposed conv.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  const SIZE = 4;
  let seed = 0;
  let requestNo = 0;        // answers to older requests are dropped

  function buildGrid() {
    const table = $("up-grid");
    const start = [[1, 2, 0, 3], [4, 0, 5, 1], [0, 6, 2, 0], [3, 1, 0, 7]];
    for (let r = 0; r < SIZE; r++) {
      const tr = document.createElement("tr");
      for (let c = 0; c < SIZE; c++) {
        const td = document.createElement("td"), input = document.createElement("input");
        input.type = "number"; input.step = "any"; input.value = start[r][c];
        input.setAttribute("aria-label", `input row ${r}, column ${c}`);
        input.dataset.r = r; input.dataset.c = c;
        input.addEventListener("input", LAB.debounce(update, 200));
        td.appendChild(input); tr.appendChild(td);
      }
      table.appendChild(tr);
    }
  }

  function readGrid() {
    const grid = [];
    for (let r = 0; r < SIZE; r++) grid.push(new Array(SIZE).fill(0));
    document.querySelectorAll("#up-grid input").forEach(inp => {
      grid[inp.dataset.r][inp.dataset.c] = LAB.readNumber(inp, `input cell (${inp.dataset.r}, ${inp.dataset.c})`);
    });
    return grid;
  }

  function readKernel() {
    const text = $("up-kernel").value.trim();
    if (!text) throw new Error("kernel: enter rows of numbers (it is empty)");
    const rows = text.split("\n").map(line => line.trim().split(/[\s,]+/).map(s => (s === "" ? NaN : Number(s))));
    if (!rows.length || rows.some(r => r.length !== rows[0].length || r.some(v => !Number.isFinite(v)))) {
      throw new Error("kernel: rows of numbers, all rows the same length");
    }
    return rows;
  }

  // The panel's state for the URL: the grid and kernel as typed (a half-typed cell stays as it is).
  function stateOf() {
    const cells = [...document.querySelectorAll("#up-grid input")].map(inp => inp.value.trim());
    const grid = [];
    for (let r = 0; r < SIZE; r++) grid.push(cells.slice(r * SIZE, (r + 1) * SIZE));
    return { factor: $("up-factor").value, padding: $("up-padding").value, kernel: $("up-kernel").value,
      grid: LAB.packMatrix(grid), seed: seed || undefined };
  }

  function restore(s) {
    LAB.setChoice($("up-factor"), s.factor);
    LAB.setChoice($("up-padding"), s.padding);
    if (s.kernel !== undefined) $("up-kernel").value = s.kernel;
    const grid = LAB.unpackMatrix(s.grid, SIZE, SIZE);
    if (grid) document.querySelectorAll("#up-grid input").forEach(inp => { inp.value = grid[inp.dataset.r][inp.dataset.c]; });
    const n = Number(s.seed);
    seed = Number.isInteger(n) && n >= 0 ? n : 0;
  }

  async function update() {
    LAB.saveState("upsampling", stateOf());
    const mine = ++requestNo;
    LAB.busy($("up-view"), true);
    let body;
    try {
      body = { grid: readGrid(), factor: Number($("up-factor").value), seed, kernel: readKernel(), padding: $("up-padding").value };
    } catch (err) { fail(err); return; }
    try {
      const res = await LAB.api("/api/upsample", body);
      if (mine !== requestNo) return;
      LAB.showError($("up-error"), null);
      LAB.markStale($("up-view"), false);
      const lo = Math.min(0, ...res.input.flat()), hi = Math.max(1e-9, ...res.input.flat());
      const opts = { numbers: true, size: 320, lo, hi };
      LAB.drawMatrix($("up-source"), res.source, { numbers: true, size: 320, outline: res.switches });
      LAB.drawMatrix($("up-nearest"), res.nearest, opts);
      LAB.drawMatrix($("up-nails"), res.nails, opts);
      LAB.drawMatrix($("up-unpool"), res.unpool, { ...opts, outline: res.switches });
      LAB.drawMatrix($("up-transpose"), res.transpose, { numbers: true, size: 320 });
      $("up-t-shape").textContent = `${res.transpose.length}x${res.transpose[0].length}`;
    } catch (err) { if (mine === requestNo) fail(err); }
    if (mine === requestNo) LAB.busy($("up-view"), false);
  }

  function fail(err) {
    LAB.showError($("up-error"), err.message);
    LAB.markStale($("up-view"), true);
    LAB.busy($("up-view"), false);
  }

  LAB.panels.upsampling = {
    state: stateOf,
    show(s) { restore(s); update(); },
    activate(state) {
      buildGrid();
      restore(state || {});
      for (const id of ["up-factor", "up-padding"]) $(id).addEventListener("change", update);
      $("up-kernel").addEventListener("input", LAB.debounce(update, 300));
      $("up-reseed").addEventListener("click", () => { seed += 1; update(); });
      update();
    },
  };
})();
