// Designer extras: the formulas of each row (on hover, and written out for the selected row) and a form
// for the selected layer's arguments, kept in sync with the YAML text both ways:
// - editing the form asks the server to rewrite that one argument in the spec (/api/spec/edit) and puts
//   the new text in the textarea (which the designer then analyses as if typed);
// - editing the text re-analyses, and the form takes the values written in the spec (/api/explain).
// designer.js announces "lab:analyzed" and "lab:layer-selected"; nothing else couples the two files.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  let schema = null;     // /api/layer-args: type -> [{name, control, default, required, choices, min, max}]
  let rows = [];         // /api/explain rows of the last analysed text
  let selected = 0;
  let shownKey = "";     // the layer the form was built for: rebuilt only when that changes
  let reqNo = 0;

  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") e.textContent = v; else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
    }
    e.append(...kids);
    return e;
  };

  // ---- formulas ---------------------------------------------------------------------------------------
  function titles() {
    document.querySelectorAll("#summary-table tbody tr").forEach(tr => {
      const row = rows[Number(tr.dataset.index)];
      if (!row || tr.dataset.layer !== row.name) return;
      const f = row.formulas;
      const cells = tr.cells;
      cells[2].title = "output: " + f.output.map(o => o.text).join(", ");
      cells[3].title = "parameters = " + f.params.symbolic + " = " + f.params.text;
      cells[4].title = "MACs = " + f.macs.symbolic + " = " + f.macs.text;
    });
  }

  function renderFormulas() {
    const box = $("designer-formulas"), row = rows[selected];
    box.replaceChildren();
    if (!row) return;
    const f = row.formulas, dims = row.output_shape.length === 3 ? ["C", "H′", "W′"] : row.output_shape.map((_, i) => `d${i}`);
    box.append(el("div", {}, el("b", { text: `${row.name} (${row.type})` }), ` input (${row.input_shape.join(", ")})`));
    f.output.forEach((o, i) => {
      if (o.symbolic === o.numbers) return;  // a plain copy such as C = 16
      box.append(el("div", {}, `${dims[i]} = `, el("span", { class: "sym", text: o.symbolic }), " → ", el("code", { text: o.text })));
    });
    box.append(el("div", {}, "parameters = ", el("span", { class: "sym", text: f.params.symbolic }), " → ", el("code", { text: f.params.text })));
    box.append(el("div", {}, "MACs = ", el("span", { class: "sym", text: f.macs.symbolic }), " → ", el("code", { text: f.macs.text })));
  }

  // ---- the form ---------------------------------------------------------------------------------------
  const pairOf = v => Array.isArray(v) ? v : (v === null || v === undefined ? ["", ""] : [v, v]);

  function control(arg, row) {
    const id = `lf-${arg.name}`, written = Object.prototype.hasOwnProperty.call(row.args, arg.name);
    const value = written ? row.args[arg.name] : arg.default;
    const label = arg.name.replace(/_/g, " ");
    if (arg.control === "pair") {
      const [a, b] = pairOf(value);
      const mk = (axis, v) => el("input", { id: `${id}-${axis}`, type: "number", min: arg.min, max: arg.max, value: v,
        placeholder: arg.default === null ? "none" : "", "aria-label": `${label} ${axis ? "cols" : "rows"}` });
      return el("div", { class: "lf-field", role: "group", "aria-label": label, "data-arg": arg.name },
        el("span", { text: label }), el("span", { class: "pair" }, mk(0, a), "×", mk(1, b)));
    }
    if (arg.control === "int") {
      const hi = Math.max(512, Number(value) || 0);
      return el("div", { class: "lf-field", "data-arg": arg.name }, el("label", { for: id, text: label }),
        el("input", { id, type: "number", min: arg.min, max: arg.max, value: value ?? "" }),
        el("input", { id: `${id}-slider`, type: "range", min: 1, max: hi, value: value ?? 1, "aria-label": `${label} slider` }));
    }
    if (arg.control === "choice" || arg.control === "pool") {
      const sel = el("select", { id });
      const choices = arg.control === "pool"
        ? rows.slice(0, selected).filter(r => r.type === "MaxPool2D").map(r => r.name) : arg.choices;
      for (const c of choices) sel.append(el("option", { value: c === null ? "" : c, text: c === null ? "none" : c }));
      sel.value = value === null || value === undefined ? "" : value;
      return el("label", { "data-arg": arg.name }, label, sel);
    }
    if (arg.control === "bool") {
      return el("label", { "data-arg": arg.name, class: "lf-bool" }, label,
        el("input", { id, type: "checkbox", checked: value ? "" : null }));
    }
    const text = Array.isArray(value) ? value.join(", ") : value ?? "";
    return el("label", { "data-arg": arg.name }, label, el("input", { id, type: "text", value: text }));
  }

  // The value a control holds, as it goes into the spec (null: remove the key, i.e. the default).
  function readControl(arg) {
    const id = `lf-${arg.name}`;
    if (arg.control === "pair") {
      const a = $(`${id}-0`).value.trim(), b = $(`${id}-1`).value.trim();
      if (a === "" && b === "") { if (arg.required) throw new Error(`${arg.name}: give a value`); return null; }
      if (a === "" || b === "") throw new Error(`${arg.name}: give both rows and cols`);
      const p = [Number(a), Number(b)];
      if (!p.every(Number.isInteger)) throw new Error(`${arg.name}: whole numbers only`);
      return p[0] === p[1] ? p[0] : p;
    }
    if (arg.control === "int") {
      const v = $(id).value.trim();
      if (v === "" || !Number.isInteger(Number(v))) throw new Error(`${arg.name}: a whole number`);
      return Number(v);
    }
    if (arg.control === "choice" || arg.control === "pool") return $(id).value === "" ? null : $(id).value;
    if (arg.control === "bool") return $(id).checked;
    const v = $(id).value.trim();
    if (arg.control === "list") {
      const parts = v.split(/[\s,]+/).filter(Boolean).map(Number);
      if (!parts.length || !parts.every(Number.isInteger)) throw new Error(`${arg.name}: whole numbers separated by commas`);
      return parts;
    }
    return v === "" ? null : v;
  }

  function renderForm() {
    const box = $("designer-form"), row = rows[selected];
    const args = row && schema && schema[row.type];
    if (!args) { box.hidden = true; shownKey = ""; return; }
    const keyNow = `${selected}|${row.type}|${rows.length}`;
    if (keyNow === shownKey) { refreshForm(row, args); return; }
    shownKey = keyNow;
    box.hidden = false;
    const grid = el("div", { class: "lf-grid" });
    for (const arg of args) grid.append(control(arg, row));
    box.replaceChildren(el("h3", { id: "lf-title", text: `${row.name} (${row.type}): arguments` }), grid,
      el("div", { id: "lf-error", class: "error", role: "alert", hidden: "" }));
    box.setAttribute("role", "group"); box.setAttribute("aria-labelledby", "lf-title");
    for (const arg of args) wire(arg);
  }

  // The text changed under the same layer: take the values written there, but never under the cursor.
  function refreshForm(row, args) {
    $("lf-title").textContent = `${row.name} (${row.type}): arguments`;
    for (const arg of args) {
      const fresh = control(arg, row), old = document.querySelector(`#designer-form [data-arg="${arg.name}"]`);
      if (!old) continue;
      fresh.querySelectorAll("input, select").forEach(inp => {
        const cur = $(inp.id);
        if (!cur || cur === document.activeElement) return;
        if (cur.type === "checkbox") cur.checked = inp.checked; else cur.value = inp.value;
      });
    }
  }

  function wire(arg) {
    const box = document.querySelector(`#designer-form [data-arg="${arg.name}"]`);
    const send = LAB.debounce(() => edit(arg), 350);
    box.querySelectorAll("input, select").forEach(inp => {
      inp.addEventListener(inp.type === "text" ? "change" : "input", () => {
        if (inp.id.endsWith("-slider")) $(`lf-${arg.name}`).value = inp.value;
        else if ($(`lf-${arg.name}-slider`)) $(`lf-${arg.name}-slider`).value = inp.value;
        send();
      });
    });
  }

  async function edit(arg) {
    const row = rows[selected];
    let value;
    try { value = readControl(arg); } catch (err) { LAB.showError($("lf-error"), err.message); return; }
    LAB.showError($("lf-error"), null);
    const text = $("spec-text").value;
    try {
      const res = await LAB.api("/api/spec/edit", { spec: text, layer: selected, key: arg.name, value });
      if ($("spec-text").value !== text || rows[selected] !== row) return;  // the text moved on meanwhile
      $("spec-text").value = res.yaml;
      $("spec-text").dispatchEvent(new Event("input", { bubbles: true }));  // the designer re-analyses
    } catch (err) { LAB.showError($("lf-error"), err.message); }
  }

  // ---- events from designer.js --------------------------------------------------------------------------
  document.addEventListener("lab:analyzed", async ev => {
    const mine = ++reqNo;
    try {
      if (!schema) schema = (await LAB.api("/api/layer-args")).layers;
      const res = await LAB.api("/api/explain", { spec: ev.detail.text });
      if (mine !== reqNo) return;
      rows = res.layers;
      titles(); renderFormulas(); renderForm();
    } catch (err) { /* the designer shows the analysis error; keep the last good form */ }
  });
  document.addEventListener("lab:layer-selected", ev => {
    selected = ev.detail.index;
    if (!rows.length) return;
    renderFormulas(); renderForm();
  });
})();
