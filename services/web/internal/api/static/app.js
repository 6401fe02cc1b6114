// The storefront's only script: the order page's countdown, following the order until it is
// settled, and Stripe's Payment Element; the event page's countdown to the sale and its
// place in the waiting room. Every page works without it.
(function () {
  'use strict';
  function byTestId(id) { return document.querySelector('[data-testid="' + id + '"]'); }

  function showError(msg) {
    var el = byTestId('error');
    el.textContent = msg;
    el.hidden = false;
  }

  // clock writes s seconds as m:ss, or h:mm:ss from an hour (as the pages' countdown).
  function clock(s) {
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), x = ('0' + (s % 60)).slice(-2);
    return h ? h + ':' + ('0' + m).slice(-2) + ':' + x : m + ':' + x;
  }

  // Times are written in UTC by the pages; the reader's own clock is friendlier.
  Array.prototype.forEach.call(document.querySelectorAll('time[datetime]'), function (el) {
    var t = new Date(el.getAttribute('datetime'));
    if (!isNaN(t)) el.textContent = t.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  });

  var page = document.getElementById('order');
  if (page) orderPage(page);
  var ev = document.getElementById('event');
  if (ev) eventPage(ev);

  function orderPage(page) {
    var id = page.getAttribute('data-order-id');
    var expires = Date.parse(page.getAttribute('data-expires-at'));
    var status = page.getAttribute('data-status');
    var follow = page.getAttribute('data-follow') === '1';
    var timer = null, poller = null;

    function settled(s) { return s === 'complete' || s === 'cancelled'; }

    function left() { return Math.max(0, Math.round((expires - Date.now()) / 1000)); }

    function tick() {
      var el = byTestId('expires-in');
      if (!el) return;
      var s = left();
      el.textContent = clock(s);
      if (s === 0 && !follow) { follow = true; schedule(); }
    }

    function setStatus(s) {
      if (s === status) return;
      status = s;
      page.setAttribute('data-status', s);
      byTestId('order-status').textContent = s;
      if (!settled(s)) return;
      var actions = document.getElementById('actions');
      if (actions) actions.remove();
      clearInterval(timer);
      clearTimeout(poller);
      if (s === 'complete') {
        document.getElementById('done').hidden = false;
        byTestId('error').hidden = true;
      } else if (Date.now() >= expires - 1000) {
        showError('Your hold expired and the ticket was released.');
      } else {
        showError('This order was cancelled.');
      }
    }

    function poll() {
      fetch('/api/orders/' + encodeURIComponent(id), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (o) {
          if (!o) return;
          // A payment that starts extends the hold: the countdown follows the deadline.
          if (o.expiresAt && !isNaN(Date.parse(o.expiresAt))) expires = Date.parse(o.expiresAt);
          if (o.status) setStatus(o.status);
        })
        .catch(function () {})
        .then(schedule);
    }

    function schedule() {
      clearTimeout(poller);
      if (settled(status)) return;
      poller = setTimeout(poll, follow ? 1000 : 5000);
    }

    if (!settled(status)) {
      timer = setInterval(tick, 1000);
      tick();
      schedule();
    }

    // Stripe: mount the Payment Element and confirm the PaymentIntent; the webhook completes
    // the order, which polling then shows.
    var mount = byTestId('payment-element');
    var form = document.getElementById('pay-form');
    if (mount && form && typeof window.Stripe === 'function') {
      var stripe = window.Stripe(mount.getAttribute('data-key'));
      var elements = stripe.elements({ clientSecret: mount.getAttribute('data-client-secret') });
      elements.create('payment').mount(mount);
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var button = byTestId('pay');
        button.disabled = true;
        byTestId('error').hidden = true;
        stripe.confirmPayment({
          elements: elements,
          redirect: 'if_required',
          confirmParams: { return_url: location.origin + location.pathname + '?paid=1' }
        }).then(function (res) {
          if (res.error) {
            showError(res.error.message || 'The payment failed.');
            button.disabled = false;
            return;
          }
          follow = true;
          poll();
        });
      });
    } else if (mount) {
      showError('The payment form could not be loaded. Check your connection and reload the page.');
    }

    // Razorpay: open Checkout for the order's Razorpay order; its result is posted to the
    // storefront, which has the API verify its signature; the order then completes.
    var rzp = byTestId('razorpay-checkout');
    if (rzp && form && typeof window.Razorpay === 'function') {
      form.addEventListener('submit', function (ev) {
        if (form.elements.razorpay_signature.value) return; // Checkout's result: send it
        ev.preventDefault();
        byTestId('error').hidden = true;
        var checkout = new window.Razorpay({
          key: rzp.getAttribute('data-key'),
          order_id: rzp.getAttribute('data-order'),
          amount: rzp.getAttribute('data-amount'),
          currency: rzp.getAttribute('data-currency'),
          name: rzp.getAttribute('data-name'),
          handler: function (res) {
            form.elements.razorpay_payment_id.value = res.razorpay_payment_id;
            form.elements.razorpay_order_id.value = res.razorpay_order_id;
            form.elements.razorpay_signature.value = res.razorpay_signature;
            form.submit();
          }
        });
        checkout.on('payment.failed', function (res) {
          showError((res.error && res.error.description) || 'The payment failed.');
        });
        checkout.open();
      });
    } else if (rzp) {
      showError('The payment form could not be loaded. Check your connection and reload the page.');
    }
  }

  // The event page: the countdown to the sale, and the visitor's place in the waiting room,
  // asked of the API as often as the estimated wait suggests (2 to 10 seconds); once admitted
  // the visitor moves on to the event's tickets.
  function eventPage(page) {
    var id = page.getAttribute('data-event-id');
    var opens = Date.parse(page.getAttribute('data-opens-at'));
    var queue = document.getElementById('queue');
    var status = queue && queue.getAttribute('data-status');
    var wait = queue ? Number(queue.getAttribute('data-wait')) || 0 : 0;
    var timer = null, poller = null;

    function toOpen() { return Math.max(0, Math.ceil((opens - Date.now()) / 1000)); }

    function tick() {
      var el = byTestId('sale-countdown');
      if (!el) return;
      var s = toOpen();
      el.textContent = clock(s);
      if (s > 0) return;
      clearInterval(timer);
      document.getElementById('sale-opens').textContent = 'The sale is open.';
      if (queue && status !== 'admitted') poll();
    }

    function waitText(s) {
      if (s <= 0) return 'none';
      if (s < 60) return 'about ' + s + ' s';
      if (s < 3600) return 'about ' + Math.round(s / 60) + ' min';
      return 'about ' + Math.round(s / 3600) + ' h';
    }

    function dash(v) { return v === null || v === undefined ? '\u2013' : String(v); }

    function show(p) {
      status = p.status;
      wait = Number(p.estimatedWaitSeconds) || 0;
      queue.setAttribute('data-status', status);
      byTestId('queue-status').textContent = status;
      byTestId('queue-position').textContent = dash(p.position);
      byTestId('queue-ahead').textContent = dash(p.ahead);
      byTestId('queue-wait').textContent = waitText(wait);
      var when = status === 'waiting' && toOpen() > 0 ? 'early' : status;
      Array.prototype.forEach.call(queue.querySelectorAll('[data-when]'), function (el) {
        el.hidden = el.getAttribute('data-when') !== when;
      });
      if (status === 'admitted') location.assign('/events/' + encodeURIComponent(id) + '/tickets');
    }

    function poll() {
      clearTimeout(poller);
      fetch('/api/queue/' + encodeURIComponent(id), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) {
          // Out of the waiting room (a pass that lapsed unused): the page offers Join again.
          if (r.status === 404) { location.reload(); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (p) { if (p) show(p); })
        .catch(function () {})
        .then(schedule);
    }

    function schedule() {
      clearTimeout(poller);
      if (!queue || status === 'admitted') return;
      var s = Math.min(Math.max(wait, 2), 10);
      poller = setTimeout(poll, s * 1000);
    }

    if (byTestId('sale-countdown')) {
      timer = setInterval(tick, 1000);
      tick();
    }
    schedule();
  }
})();
