// Airut dashboard: live updates. The pages work without this script; it
// only adds what JavaScript can: following a running conversation over
// Server-Sent Events (or polling when the stream is refused or fails) and
// refreshing the overview. All HTML it inserts was rendered, and escaped,
// by the server.
(function () {
  'use strict';

  function insert(target, html) {
    if (!html) return;
    var t = document.createElement('template');
    t.innerHTML = html;
    var plans = t.content.querySelectorAll('.ev:not(.ev-sub) .todo-plan');
    if (plans.length) {
      var p = document.getElementById('plan');
      if (p) {
        p.replaceChildren(plans[plans.length - 1].cloneNode(true));
        p.hidden = false;
      }
    }
    target.querySelectorAll('.empty').forEach(function (e) { e.remove(); });
    // A result whose call came before this stream's offset arrives
    // without the tool's name: take it from the call on the page.
    t.content.querySelectorAll('.ev-result[data-tool-id]').forEach(function (r) {
      var badge = r.querySelector('.badge-result');
      if (!badge || badge.querySelector('.tool-name')) return;
      var call = null;
      target.querySelectorAll('.ev-tool[data-tool-id]').forEach(function (c) {
        if (c.dataset.toolId === r.dataset.toolId) call = c;
      });
      var name = call && call.querySelector('.badge-tool');
      if (!name) return;
      var span = document.createElement('span');
      span.className = 'tool-name';
      span.textContent = name.textContent;
      badge.prepend(span, ' ');
    });
    target.appendChild(t.content);
  }

  var currentState = '';

  function setState(s) {
    var el = document.getElementById('state');
    if (s) currentState = s;
    if (el && s) {
      el.textContent = s;
      el.className = 'state state-' + s;
      // The Stop and Retry forms follow the state (the server rendered
      // them for the state at load).
      document.querySelectorAll('form[data-when]').forEach(function (f) {
        f.hidden = f.dataset.when.split(' ').indexOf(s) < 0;
      });
    }
  }

  function live(el) {
    var offset = el.dataset.offset || '0';
    var timer = null;
    var finished = false;

    function done() {
      if (finished) return;
      finished = true;
      var note = document.getElementById('live-note');
      if (note) note.textContent = 'The task has ended.';
      // A stopped or failed task has no reply to show, and the page
      // already follows its state (and its Retry button): no reload,
      // which could swallow a click made meanwhile.
      if (currentState === 'stopped' || currentState === 'failed') return;
      // Reload to show the reply, but never in a loop: not again within
      // ten seconds of the last reload of this page.
      var key = 'airut-reload:' + location.pathname + location.search;
      var last = 0;
      try { last = parseInt(sessionStorage.getItem(key), 10) || 0; } catch (e) { return; }
      if (Date.now() - last < 10000) return;
      try { sessionStorage.setItem(key, String(Date.now())); } catch (e) { return; }
      setTimeout(function () { location.reload(); }, 500);
    }

    function poll() {
      fetch(el.dataset.poll + '&offset=' + encodeURIComponent(offset), {
        headers: { 'Accept': 'application/json' }, credentials: 'same-origin'
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (a) {
        if (!a) return;
        insert(el, a.html);
        offset = String(a.offset);
        setState(a.state);
        if (a.done) {
          clearInterval(timer);
          done();
        }
      }).catch(function () {});
    }

    function startPolling() {
      if (timer || finished) return;
      timer = setInterval(poll, 3000);
      poll();
    }

    if (!window.EventSource) {
      startPolling();
      return;
    }
    var es = new EventSource(el.dataset.stream + '&offset=' + encodeURIComponent(offset));
    es.addEventListener('html', function (e) {
      insert(el, e.data);
      if (e.lastEventId) offset = e.lastEventId;
    });
    es.addEventListener('status', function (e) { setState(e.data); });
    es.addEventListener('done', function () {
      es.close();
      done();
    });
    es.onerror = function () {
      // A refused stream (429) or a failed one does not come back by
      // itself: poll instead.
      if (es.readyState === EventSource.CLOSED) startPolling();
    };
  }

  function refresh(root) {
    var every = parseInt(root.dataset.refresh, 10) || 5000;
    setInterval(function () {
      if (document.hidden) return;
      fetch(location.href, { credentials: 'same-origin' }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (text) {
        if (!text) return;
        var doc = new DOMParser().parseFromString(text, 'text/html');
        root.querySelectorAll('[data-part]').forEach(function (part) {
          var fresh = doc.getElementById(part.id);
          if (fresh) part.replaceWith(document.importNode(fresh, true));
        });
      }).catch(function () {});
    }, every);
  }

  document.querySelectorAll('[data-stream]').forEach(live);
  var r = document.querySelector('[data-refresh]');
  if (r) refresh(r);
})();
