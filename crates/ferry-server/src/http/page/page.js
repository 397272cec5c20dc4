// Ferry's page: uploads (tus, our own small client), new folder, rename, delete and share.
// Browsing and downloading work without this file. Names are only ever set with textContent.
'use strict';

(function () {
  const body = document.body;
  const csrf = body.dataset.csrf || '';
  const folderPath = body.dataset.path || '/'; // the folder in the user's view, decoded
  const folderHref = location.pathname; // the same, as the server spelled it in the URL
  const CHUNK = 8 * 1024 * 1024;
  const RETRIES = 4;
  const status = document.getElementById('status');

  for (const el of document.querySelectorAll('.js-only')) el.hidden = false;

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (csrf) h['X-CSRF-Token'] = csrf;
    return h;
  }

  function say(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('bad', !!bad);
  }

  async function reason(response) {
    let text = '';
    try { text = (await response.text()).trim(); } catch (e) { /* no body */ }
    return text ? text + ' (' + response.status + ')' : 'the server answered ' + response.status;
  }

  function b64(text) {
    const bytes = new TextEncoder().encode(text);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  // One PATCH of `blob` at `offset`, reporting progress; resolves to the new offset.
  function patch(url, blob, offset, progress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PATCH', url);
      const h = headers({
        'Tus-Resumable': '1.0.0',
        'Upload-Offset': String(offset),
        'Content-Type': 'application/offset+octet-stream',
      });
      for (const [k, v] of Object.entries(h)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => progress(offset + e.loaded);
      xhr.onload = () => {
        if (xhr.status === 204) {
          resolve(Number(xhr.getResponseHeader('Upload-Offset')));
        } else {
          const err = new Error((xhr.responseText || '').trim() || 'the server answered ' + xhr.status);
          err.fatal = xhr.status >= 400 && xhr.status < 500 && xhr.status !== 409 && xhr.status !== 423;
          reject(err);
        }
      };
      xhr.onerror = () => reject(new Error('the connection failed'));
      xhr.send(blob);
    });
  }

  // Uploads `file` to `target` (a path in the user's view) through /.tus/.
  async function tusUpload(file, target, progress) {
    const created = await fetch('/.tus/', {
      method: 'POST',
      headers: headers({
        'Tus-Resumable': '1.0.0',
        'Upload-Length': String(file.size),
        'Upload-Metadata': 'path ' + b64(target) + ',filename ' + b64(file.name),
      }),
    });
    if (created.status !== 201) throw new Error(await reason(created));
    const url = created.headers.get('Location');
    if (!url) throw new Error('the server gave no upload address');
    let offset = 0;
    let failures = 0;
    while (offset < file.size) {
      try {
        offset = await patch(url, file.slice(offset, Math.min(offset + CHUNK, file.size)), offset, progress);
        failures = 0;
      } catch (err) {
        if (err.fatal || ++failures > RETRIES) throw err;
        await sleep(500 * failures);
        const head = await fetch(url, { method: 'HEAD', headers: headers({ 'Tus-Resumable': '1.0.0' }) });
        if (!head.ok) throw new Error(await reason(head));
        offset = Number(head.headers.get('Upload-Offset'));
      }
    }
    progress(file.size);
  }

  async function uploadAll(files) {
    const list = document.getElementById('uploads');
    if (!list || files.length === 0) return;
    let failed = 0;
    const jobs = Array.from(files).map(async (file) => {
      const { item, bar, why } = uploadRow(file, list);
      try {
        await tusUpload(file, folderPath + file.name, (sent) => {
          bar.value = sent;
          why.textContent = Math.floor((100 * sent) / Math.max(file.size, 1)) + '%';
        });
        bar.value = bar.max;
        why.textContent = 'done';
        item.classList.add('done');
      } catch (err) {
        failed += 1;
        why.textContent = 'failed: ' + err.message;
        item.classList.add('failed');
      }
    });
    await Promise.all(jobs);
    if (failed === 0) {
      say(files.length + (files.length === 1 ? ' file' : ' files') + ' uploaded');
    } else {
      say(failed + ' of ' + files.length + ' uploads failed', true);
    }
    await refreshListing();
  }

  // The listing again from the server (the same HTML the page was built from), in place, so
  // that the upload bars and messages stay. Parsed as an inert document: nothing in it runs.
  async function refreshListing() {
    try {
      const response = await fetch(location.href, { headers: { Accept: 'text/html' } });
      if (!response.ok) throw new Error(await reason(response));
      const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
      const fresh = doc.querySelector('#listing tbody');
      const old = document.querySelector('#listing tbody');
      if (!fresh || !old) throw new Error('no listing');
      const rows = document.importNode(fresh, true);
      for (const el of rows.querySelectorAll('.js-only')) el.hidden = false;
      old.replaceWith(rows);
      const empty = document.querySelector('p.empty');
      if (empty && !doc.querySelector('p.empty')) empty.remove();
    } catch (err) {
      location.reload();
    }
  }

  const picker = document.getElementById('picker');
  if (picker) picker.addEventListener('change', () => uploadAll(picker.files));

  let depth = 0;
  document.addEventListener('dragenter', (e) => { e.preventDefault(); depth += 1; body.classList.add('dragging'); });
  document.addEventListener('dragleave', () => { depth -= 1; if (depth <= 0) { depth = 0; body.classList.remove('dragging'); } });
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    body.classList.remove('dragging');
    if (e.dataTransfer && e.dataTransfer.files.length) uploadAll(e.dataTransfer.files);
  });

  async function send(method, href, extra) {
    const response = await fetch(href, { method, headers: headers(extra) });
    if (!response.ok) throw new Error(await reason(response));
    return response;
  }

  const mkdir = document.getElementById('mkdir');
  if (mkdir) mkdir.addEventListener('click', async () => {
    const name = prompt('Name of the new folder');
    if (!name) return;
    try {
      await send('MKCOL', folderHref + encodeURIComponent(name) + '/');
      location.reload();
    } catch (err) { say('Could not create the folder: ' + err.message, true); }
  });

  const table = document.getElementById('listing');
  if (table) table.addEventListener('click', async (e) => {
    const button = e.target.closest('button');
    const row = button && button.closest('tr');
    if (!row || !row.dataset.href) return;
    const name = row.dataset.name;
    const dir = row.classList.contains('dir');
    const href = folderHref + row.dataset.href;
    try {
      if (button.classList.contains('delete')) {
        if (!confirm('Delete "' + name + '"' + (dir ? ' and everything in it' : '') + '?')) return;
        await send('DELETE', href);
        location.reload();
      } else if (button.classList.contains('rename')) {
        const to = prompt('New name for "' + name + '"', name);
        if (!to || to === name) return;
        const destination = location.origin + folderHref + encodeURIComponent(to) + (dir ? '/' : '');
        await send('MOVE', href, { Destination: destination, Overwrite: 'F' });
        location.reload();
      } else if (button.classList.contains('share')) {
        const response = await fetch('/.share', {
          method: 'POST',
          headers: headers({ 'Content-Type': 'application/json' }),
          body: JSON.stringify({ path: folderPath + name + (dir ? '/' : '') }),
        });
        if (response.status === 404 || response.status === 405) {
          say('Sharing is not available on this server.', true);
          return;
        }
        if (!response.ok) throw new Error(await reason(response));
        const text = await response.text();
        let link = text.trim();
        try {
          const json = JSON.parse(text);
          link = json.url || json.link || json.path || link;
        } catch (err) { /* a plain-text link */ }
        if (link.startsWith('/')) link = location.origin + link;
        say('Share link: ' + link);
      }
    } catch (err) {
      say('"' + name + '": ' + err.message, true);
    }
  });
})();
