// vitals dashboard: progressive enhancement only; every page works without it.
// - <select data-autosubmit> submits its form on change (filters).
// - <form data-confirm="…"> asks before submitting (state changes).
// - Esc closes an open <details>; "/" focuses the first filter.
(function () {
  'use strict';
  document.addEventListener('change', function (e) {
    var t = e.target;
    if (t && t.matches && t.matches('select[data-autosubmit]') && t.form) {
      t.form.submit();
    }
  });
  document.addEventListener('submit', function (e) {
    var f = e.target;
    var msg = f && f.getAttribute && f.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
    }
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') {
      var open = document.querySelector('details[open]');
      if (open) { open.removeAttribute('open'); }
    }
    var tag = (e.target && e.target.tagName) || '';
    if (e.key === '/' && !/INPUT|TEXTAREA|SELECT/.test(tag)) {
      var first = document.querySelector('form.filters select, form.filters input');
      if (first) { e.preventDefault(); first.focus(); }
    }
  });
})();
