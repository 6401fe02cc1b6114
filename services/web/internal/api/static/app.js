// The storefront's only script: the order page's countdown, following the order until it is
// settled, and Stripe's Payment Element. Every page works without it.
(function () {
  'use strict';
  var page = document.getElementById('order');
  if (!page) return;

  function byTestId(id) { return document.querySelector('[data-testid="' + id + '"]'); }
  var id = page.getAttribute('data-order-id');
  var expires = Date.parse(page.getAttribute('data-expires-at'));
  var status = page.getAttribute('data-status');
  var follow = page.getAttribute('data-follow') === '1';
  var timer = null, poller = null;

  function settled(s) { return s === 'complete' || s === 'cancelled'; }

  function showError(msg) {
    var el = byTestId('error');
    el.textContent = msg;
    el.hidden = false;
  }

  function left() { return Math.max(0, Math.round((expires - Date.now()) / 1000)); }

  function tick() {
    var el = byTestId('expires-in');
    if (!el) return;
    var s = left();
    el.textContent = Math.floor(s / 60) + ':' + ('0' + (s % 60)).slice(-2);
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
})();
