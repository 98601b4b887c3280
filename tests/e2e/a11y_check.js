// Accessible names and text contrast (WCAG 2 formula) of every control and text in one panel; used by
// tests/e2e/test_lab_arith_browser.py. Returns {unnamed: [...], low: [[tag, text, ratio], ...]}.
((panelId) => {
  const root = document.getElementById(panelId);
  const unnamed = [];
  for (const e of root.querySelectorAll('input, select, button, [tabindex]')) {
    const name = e.getAttribute('aria-label') || (e.labels && e.labels.length && e.labels[0].textContent.trim())
      || (e.tagName === 'BUTTON' && e.textContent.trim());
    if (!name) unnamed.push(e.outerHTML.slice(0, 80));
  }
  for (const s of root.querySelectorAll('svg')) if (s.getAttribute('role') !== 'img' || !s.getAttribute('aria-label')) unnamed.push(s.id);
  const rgb = s => { const m = s.match(/[\d.]+/g).map(Number); return m.length > 3 ? m : [...m, 1]; };
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const over = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3]));
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const bgOf = e => { const stack = []; for (let n = e; n; n = n.parentElement) { const c = rgb(getComputedStyle(n).backgroundColor); if (c[3] > 0) stack.push(c); if (c[3] === 1) break; }
    return stack.reverse().reduce((acc, c) => over(c, acc), [255, 255, 255]); };
  const low = [];
  for (const e of root.querySelectorAll('*')) {
    if (e.closest('svg') || e.hidden || !e.offsetParent && e.tagName !== 'svg') continue;
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own && !['INPUT', 'SELECT', 'BUTTON'].includes(e.tagName)) continue;
    if (e.tagName === 'INPUT' && ['range', 'checkbox'].includes(e.type)) continue;  // no text
    const cs = getComputedStyle(e), r = ratio(rgb(cs.color), bgOf(e));
    if (r < 4.5) low.push([e.tagName, e.id || e.textContent.trim().slice(0, 30), r.toFixed(2)]);
  }
  for (const t of root.querySelectorAll('svg text')) {
    const rect = t.previousElementSibling.tagName === 'rect' ? t.previousElementSibling : t.previousElementSibling.previousElementSibling;
    const cs = getComputedStyle(rect), fill = rgb(cs.fill), op = Number(cs.fillOpacity);
    const r = ratio(rgb(getComputedStyle(t).fill), over([...fill.slice(0, 3), op], [255, 255, 255]));
    if (r < 4.5) low.push(['svg text', t.textContent, r.toFixed(2)]);
  }
  return {unnamed, low};
})
