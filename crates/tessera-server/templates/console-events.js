// The console's live events: subscribes to Tessera's /events with the
// page's token (of this browser's own session) and shows each event as it
// comes, newest first. Text only: nothing received is ever parsed as HTML.
(() => {
  'use strict';
  const body = document.getElementById('events');
  const status = document.getElementById('stream-status');
  if (!body || !status || !body.dataset.token) return;
  const token = body.dataset.token;
  const KEEP = 200;
  let lastSeq = null;
  let retry = 1000;

  const cell = (row, text) => {
    const td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
  };

  const show = (event) => {
    const row = document.createElement('tr');
    const at = typeof event.at === 'number' ? new Date(event.at).toISOString().slice(0, 19).replace('T', ' ') : '';
    cell(row, at);
    cell(row, event.type);
    cell(row, event.sub || event.username || event.kid || '');
    const details = Object.assign({}, event);
    for (const key of ['type', 'at', 'seq', 'sub']) delete details[key];
    cell(row, JSON.stringify(details));
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > KEEP) body.deleteRow(body.rows.length - 1);
  };

  const connect = () => {
    const url = new URL('/events', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (lastSeq !== null) url.searchParams.set('since', String(lastSeq));
    const socket = new WebSocket(url);
    socket.addEventListener('open', () => socket.send(JSON.stringify({ type: 'auth', token })));
    socket.addEventListener('message', (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.type === 'auth.ok') {
        status.textContent = 'Connected: new events appear below as they happen.';
        retry = 1000;
        return;
      }
      if (typeof event.seq === 'number') lastSeq = event.seq;
      show(event);
    });
    socket.addEventListener('close', (close) => {
      if (close.code === 4001 || close.code === 4401) {
        // The page's token expired or ended: a fresh page brings a new one.
        status.textContent = 'Reconnecting…';
        window.location.reload();
        return;
      }
      status.textContent = `Disconnected; trying again in ${Math.round(retry / 1000)} s.`;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  };
  connect();
})();
