// Conv arithmetic, the form: the layer kinds, the arguments the panel edits (FIELDS) and their presets,
// the panel's DOM, and the arguments written into and read from its controls. No state of its own:
// arith.js owns the values, the requests, the playback and the URL.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  const { el } = LAB.arithDraw;  // arith_draw.js's DOM helper
  const CONV = ["Conv2D", "Conv2DTranspose"], POOLS = ["MaxPool2D", "AvgPool2D", "MaxUnpool2D"];
  const KINDS = ["Conv2D", "Conv2DTranspose", "MaxPool2D", "AvgPool2D", "UpSampling2D", "BedOfNails2D", "MaxUnpool2D"];
  // the layer arguments the panel edits: [key, label, kind of control, kinds it applies to, extra]
  const FIELDS = [
    ["kernel_size", "kernel", "pair", CONV, { min: 1, max: 7, def: [3, 3] }],
    ["pool_size", "pool size", "pair", POOLS, { min: 1, max: 7, def: [2, 2] }],
    ["strides", "strides", "pair", [...CONV, ...POOLS], { min: 1, max: 4, optional: "default" }],
    ["padding", "padding", "choice", [...CONV, ...POOLS], { choices: ["valid", "same"] }],
    ["dilation_rate", "dilation", "pair", CONV, { min: 1, max: 4, optional: "1" }],
    ["output_padding", "output padding", "pair", ["Conv2DTranspose"], { min: 0, max: 3, optional: "none" }],
    ["size", "factor", "pair", ["UpSampling2D", "BedOfNails2D"], { min: 1, max: 4, def: [2, 2] }],
    ["interpolation", "interpolation", "choice", ["UpSampling2D"], { choices: ["nearest", "bilinear"] }],
    ["use_bias", "bias", "bool", CONV, {}],
  ];
  const PRESETS = {  // a starting configuration per layer, chosen to show its point
    Conv2D: { grid: [6, 6], args: { kernel_size: [3, 3], strides: [2, 2], padding: "same" } },
    Conv2DTranspose: { grid: [3, 3], args: { kernel_size: [3, 3], strides: [2, 2], padding: "same" } },
    MaxPool2D: { grid: [5, 5], args: { pool_size: [2, 2], padding: "same" } },
    AvgPool2D: { grid: [5, 5], args: { pool_size: [2, 2], padding: "same" } },
    UpSampling2D: { grid: [3, 3], args: { size: [2, 2], interpolation: "nearest" } },
    BedOfNails2D: { grid: [3, 3], args: { size: [2, 2] } },
    MaxUnpool2D: { grid: [6, 6], args: { pool_size: [2, 2] } },
  };

  // the panel's DOM: the layer, its arguments (FIELDS), the editors, the player and the stage
  function buildPanel() {
    const root = $("arith");
    const kindSel = el("select", { id: "ar-kind" });
    for (const k of KINDS) kindSel.append(el("option", { value: k, text: k }));
    const controls = el("div", { class: "controls", id: "ar-controls" },
      el("label", {}, "Layer", kindSel),
      el("label", {}, "Input rows", el("input", { id: "ar-rows", type: "number", min: 1, max: 16, value: 6 })),
      el("label", {}, "Input cols", el("input", { id: "ar-cols", type: "number", min: 1, max: 16, value: 6 })));
    for (const [key, label, type, kinds, x] of FIELDS) {
      let field;
      if (type === "pair") {
        const mk = (axis, name) => el("input", { id: `ar-${key}-${axis}`, type: "number", min: x.min, max: x.max,
          placeholder: x.optional || "", "aria-label": `${label} ${name}` });
        field = el("span", { class: "pair" }, mk(0, "rows"), "×", mk(1, "cols"));
      } else if (type === "choice") {
        field = el("select", { id: `ar-${key}` });
        for (const c of x.choices) field.append(el("option", { value: c, text: c }));
      } else {
        field = el("input", { id: `ar-${key}`, type: "checkbox", checked: "" });
      }
      const lab = el(type === "pair" ? "div" : "label", { class: "field", "data-kinds": kinds.join(" ") },
        el("span", { text: label }), field);
      if (type === "pair") lab.setAttribute("role", "group"), lab.setAttribute("aria-label", label);
      controls.append(lab);
    }
    controls.append(
      el("label", { class: "field", "data-kinds": "Conv2D" }, "input channels",
        el("input", { id: "ar-channels", type: "number", min: 1, max: 4, value: 1 })),
      el("label", { class: "field", "data-kinds": CONV.join(" ") }, "bias value",
        el("input", { id: "ar-bias", type: "number", step: "any", value: 0 })),
      el("button", { id: "ar-random", type: "button", text: "new values" }));
    const editors = el("div", { class: "row ar-editors", id: "ar-editors" },
      el("figure", {}, el("figcaption", { id: "ar-grid-cap", text: "input values (editable)" }),
        el("div", { class: "ar-scroll" }, el("table", { id: "ar-grid", class: "grid-input" }))),
      el("figure", { id: "ar-kernel-fig" }, el("figcaption", { text: "kernel weights (editable)" }),
        el("div", { class: "ar-scroll" }, el("table", { id: "ar-kernel", class: "grid-input" }))));
    const player = el("div", { class: "ar-player", role: "toolbar", "aria-label": "animation controls" },
      el("button", { id: "ar-first", type: "button", "aria-label": "first step", text: "« first" }),
      el("button", { id: "ar-prev", type: "button", "aria-label": "step back", text: "◀ back" }),
      el("button", { id: "ar-play", type: "button", "aria-label": "play", text: "▶ play" }),
      el("button", { id: "ar-next", type: "button", "aria-label": "step forward", text: "step ▶" }),
      el("button", { id: "ar-last", type: "button", "aria-label": "last step", text: "last »" }),
      el("label", {}, "speed", el("input", { id: "ar-speed", type: "range", min: 1, max: 10, value: 3,
        "aria-valuetext": "3 steps per second" })),
      el("span", { id: "ar-counter", class: "ar-counter" }));
    const stage = el("div", { id: "ar-stage", class: "ar-stage", tabindex: 0, role: "group",
      "aria-label": "animation; arrow keys step, space plays or pauses, Home and End jump",
      "aria-describedby": "ar-equation" },
      el("div", { id: "ar-planes", class: "row" }),
      el("p", { id: "ar-equation", class: "ar-equation" }));
    root.append(controls, el("div", { id: "ar-error", class: "error", role: "alert", hidden: "" }), editors,
      el("div", { id: "ar-formulas", class: "ar-formulas" }), player, stage,
      el("p", { id: "ar-live", class: "sr-only", "aria-live": "polite" }));
  }

  function setArgs(args) {
    for (const [key, , type] of FIELDS) {
      const v = args[key];
      if (type === "pair") {
        const p = v === undefined || v === null ? ["", ""] : Array.isArray(v) ? v : [v, v];
        $(`ar-${key}-0`).value = p[0]; $(`ar-${key}-1`).value = p[1];
      } else if (type === "choice") {
        const def = FIELDS.find(f => f[0] === key)[4].choices[0];
        $(`ar-${key}`).value = v === undefined ? def : v;
      } else $(`ar-${key}`).checked = v === undefined ? true : v;
    }
    for (const [key, , type, , x] of FIELDS) {  // required pairs get their default
      if (type === "pair" && x.def && $(`ar-${key}-0`).value === "") { $(`ar-${key}-0`).value = x.def[0]; $(`ar-${key}-1`).value = x.def[1]; }
    }
  }

  // The request body from the controls; an empty required field is an error, never a silent 0.
  function readArgs(kind) {
    const args = {};
    for (const [key, label, type, kinds, x] of FIELDS) {
      if (!kinds.includes(kind)) continue;
      if (type === "pair") {
        const a = $(`ar-${key}-0`).value.trim(), b = $(`ar-${key}-1`).value.trim();
        if (a === "" && b === "" && x.optional) continue;
        if (a === "" || b === "") throw new Error(`${label}: give both rows and cols`);
        args[key] = [Number(a), Number(b)];
        if (!args[key].every(Number.isInteger)) throw new Error(`${label}: whole numbers only`);
      } else if (type === "choice") args[key] = $(`ar-${key}`).value;
      else args[key] = $(`ar-${key}`).checked;
    }
    return args;
  }

  LAB.arithForm = { CONV, KINDS, FIELDS, PRESETS, buildPanel, setArgs, readArgs };
})();
