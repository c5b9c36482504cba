// A small stand-in for the LuCI client modules the status view uses (E, _,
// view, poll, rpc), for the headless Chromium test. It is not LuCI: rpc
// answers come from window.MIP4D_FIXTURES, which the test fills with the
// real rpcd plugin's answers from a running mip4d; poll runs each polled
// function once, so the redraw path runs too.
(function() {
	function append(el, kids) {
		if (kids == null) return;
		if (!Array.isArray(kids)) kids = [kids];
		kids.forEach(function(k) {
			if (k == null) return;
			el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
		});
	}
	window.E = function(tag, attrs, kids) {
		if (Array.isArray(attrs) || typeof attrs === 'string' || attrs instanceof Node) { kids = attrs; attrs = {}; }
		var el = document.createElement(tag);
		Object.keys(attrs || {}).forEach(function(k) { el.setAttribute(k, attrs[k]); });
		append(el, kids);
		return el;
	};
	window._ = function(s) { return s; };
	var pending = [];
	window.LuCIStandIn = {
		view: { extend: function(o) { return o; } },
		poll: { add: function(fn, interval) { pending.push(fn); } },
		rpc: {
			declare: function(d) {
				return function() {
					var key = d.object + '.' + d.method;
					if (!(key in window.MIP4D_FIXTURES))
						return Promise.reject(new Error('stand-in: no answer for ' + key));
					return Promise.resolve(JSON.parse(JSON.stringify(window.MIP4D_FIXTURES[key])));
				};
			}
		},
		runPolls: function() { return Promise.all(pending.map(function(fn) { return fn(); })); }
	};
})();
