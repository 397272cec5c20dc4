// Ferry's upload page for an upload-only share link: each file chosen or dropped is sent as one
// PUT to the link (`/s/TOKEN/<name>`) with XMLHttpRequest, for its progress bar, two at a time.
// The link is the only credential. Nothing here lists the folder; names are only ever set with
// textContent.
'use strict';

(function () {
  const body = document.body;
  const link = body.dataset.link || location.pathname.replace(/\/?$/, '/');
  const PARALLEL = 2;
  const list = document.getElementById('uploads');
  const status = document.getElementById('status');
  const picker = document.getElementById('picker');
  const queue = [];
  let running = 0;
  let sent = 0;
  let failed = 0;

  for (const el of document.querySelectorAll('.js-only')) el.hidden = false;
  for (const el of document.querySelectorAll('.no-js')) el.hidden = true;

  function say(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('bad', !!bad);
  }

  // The server's one-line reason, or a word for a status it gave none for.
  function reason(xhr) {
    const text = (xhr.responseText || '').trim().split('\n')[0];
    if (text && text.length < 300) return text + ' (' + xhr.status + ')';
    const known = {
      403: 'this link may not upload here',
      404: 'this link is no longer valid',
      409: 'a file of that name is already there',
      410: 'this link has expired',
      413: 'the file is too large',
      429: 'too many attempts; try again later',
      507: 'no room left for it',
    };
    return (known[xhr.status] || 'the server answered') + ' (' + xhr.status + ')';
  }

  function put(item) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', link + encodeURIComponent(item.file.name));
      xhr.upload.onprogress = (e) => {
        item.bar.value = e.loaded;
        item.why.textContent = Math.floor((100 * e.loaded) / Math.max(item.file.size, 1)) + '%';
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(null);
        } else {
          resolve(reason(xhr));
        }
      };
      xhr.onerror = () => resolve('the connection failed, or the file could not be read');
      xhr.onabort = () => resolve('stopped');
      xhr.send(item.file);
    });
  }

  function row(file) {
    return uploadRow(file, list);
  }

  function finish(item, problem) {
    if (problem) {
      failed += 1;
      item.why.textContent = 'failed: ' + problem;
      item.item.classList.add('failed');
    } else {
      sent += 1;
      item.bar.value = item.bar.max;
      item.why.textContent = 'uploaded';
      item.item.classList.add('done');
    }
  }

  function report() {
    const total = sent + failed;
    if (failed === 0) {
      say(sent + (sent === 1 ? ' file' : ' files') + ' uploaded');
    } else {
      say(failed + ' of ' + total + (total === 1 ? ' upload' : ' uploads') + ' failed', true);
    }
  }

  function pump() {
    while (running < PARALLEL && queue.length > 0) {
      const item = queue.shift();
      running += 1;
      item.why.textContent = '0%';
      put(item).then((problem) => {
        finish(item, problem);
        running -= 1;
        if (running === 0 && queue.length === 0) report();
        pump();
      });
    }
  }

  function add(files, folders) {
    if (files.length === 0 && (!folders || folders.length === 0)) return;
    for (const file of files) queue.push(row(file));
    for (const name of folders || []) {
      const item = row(new File([], name));
      finish(item, 'a folder: choose the files in it instead');
    }
    if (running === 0 && queue.length === 0) report();
    if (queue.length > 0) say('uploading…');
    pump();
  }

  if (picker) {
    picker.addEventListener('change', () => {
      add(Array.from(picker.files || []));
      picker.value = '';
    });
  }

  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => {
    if (e.target === document.documentElement || e.relatedTarget === null) {
      body.classList.remove('dragging');
    }
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    body.classList.remove('dragging');
    const data = e.dataTransfer;
    if (!data) return;
    const files = [];
    const folders = [];
    const items = Array.from(data.items || []);
    if (items.length > 0) {
      for (const entry of items) {
        if (entry.kind !== 'file') continue;
        const file = entry.getAsFile();
        const fs = entry.webkitGetAsEntry ? entry.webkitGetAsEntry() : null;
        if (fs && fs.isDirectory) {
          folders.push(fs.name);
        } else if (file) {
          files.push(file);
        }
      }
    } else {
      files.push(...Array.from(data.files || []));
    }
    add(files, folders);
  });

  window.addEventListener('beforeunload', (e) => {
    if (running > 0 || queue.length > 0) e.preventDefault();
  });
})();
