/* secsrv console: the little the pages do in the browser. No data, no requests of its own. */
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var print = document.getElementById('print');
  if (print) {
    print.addEventListener('click', function () { window.print(); });
  }
  /* the log chosen from the list is shown at once */
  var logs = document.querySelector('form.logs select');
  if (logs) {
    logs.addEventListener('change', function () { logs.form.submit(); });
  }
});
