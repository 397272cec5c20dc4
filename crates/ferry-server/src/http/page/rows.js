// What page.js and upload.js share, put before each of them when served (page.rs): the list
// row of one file being uploaded, its name set with textContent only.
'use strict';

// A row for `file` in `list` (when there is one): name, progress bar, and a line that says
// how it goes.
function uploadRow(file, list) {
  const item = document.createElement('li');
  item.className = 'upload';
  const name = document.createElement('span');
  name.className = 'file';
  name.textContent = file.name;
  const bar = document.createElement('progress');
  bar.max = Math.max(file.size, 1);
  bar.value = 0;
  const why = document.createElement('span');
  why.className = 'why';
  why.textContent = 'waiting';
  item.append(name, bar, why);
  if (list) list.append(item);
  return { file, item, bar, why };
}
