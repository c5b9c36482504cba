'use strict';
'require view';
'require poll';
'require rpc';

// Status > Mobile IP: what `mip4d status --json` and `mip4d bindings --json`
// say, through the rpcd plugin luci.mip4d, refreshed every 5 seconds.
// Keys are never in these answers.

var callStatus = rpc.declare({ object: 'luci.mip4d', method: 'status' });
var callBindings = rpc.declare({ object: 'luci.mip4d', method: 'bindings' });

function duration(s) {
	s = Math.max(0, Math.floor(+s || 0));
	var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
	return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + (s % 60) + 's';
}

function text(v) {
	if (v == null || v === '')
		return '-';
	if (typeof v === 'boolean')
		return v ? _('yes') : _('no');
	return String(v);
}

// table builds a LuCI-styled table: one header row, then rows of cells.
function table(id, head, rows, empty) {
	var t = E('table', { 'class': 'table', 'id': id }, [
		E('tr', { 'class': 'tr table-titles' }, head.map(function(h) {
			return E('th', { 'class': 'th' }, h);
		}))
	]);
	if (!rows.length)
		t.appendChild(E('tr', { 'class': 'tr placeholder' }, [
			E('td', { 'class': 'td', 'colspan': String(head.length) }, E('em', {}, empty))
		]));
	rows.forEach(function(r) {
		t.appendChild(E('tr', { 'class': 'tr' }, r.map(function(c, i) {
			return E('td', { 'class': 'td', 'data-title': head[i] }, text(c));
		})));
	});
	return t;
}

// flatten turns nested counters into [name, value] rows: a.b.c = n.
function flatten(prefix, v, out) {
	if (v != null && typeof v === 'object' && !Array.isArray(v)) {
		Object.keys(v).sort().forEach(function(k) {
			flatten(prefix ? prefix + '.' + k : k, v[k], out);
		});
	} else if (typeof v === 'number') {
		out.push([prefix, v]);
	}
	return out;
}

function summary(st) {
	var rows = [
		[_('Role'), st.role === 'ha' ? _('Home agent') : st.role === 'mn' ? _('Mobile node') : st.role],
		[_('Version'), st.version],
		[_('Uptime'), duration(st.uptime)]
	];
	var ha = st.ha;
	if (ha) {
		rows.push([_('Home agent address'), ha.address]);
		rows.push([_('Home network'), ha.home_network]);
		rows.push([_('Bindings'), ha.bindings]);
		rows.push([_('Mobile nodes configured'), ha.mobile_nodes]);
		if (ha.pool_size)
			rows.push([_('Pool'), ha.pool_used + ' / ' + ha.pool_size]);
		rows.push([_('Revocations pending'), ha.revocations_pending]);
		rows.push([_('State file'), ha.state_file]);
	}
	if (st.mn && st.mn.registration && typeof st.mn.registration === 'object')
		Object.keys(st.mn.registration).sort().forEach(function(k) {
			var v = st.mn.registration[k];
			if (v == null || typeof v !== 'object')
				rows.push([k, v]);
		});
	return table('mip4d-summary', [_('Field'), _('Value')], rows, _('No data'));
}

function bindingRows(list) {
	return (list || []).map(function(b) {
		return [b.home_addr, b.care_of, b.nai, b.endpoint, b.tunnel, b.reverse_tunnel,
			b.foreign_agent, b.remaining + ' / ' + b.lifetime + ' s', b.registered];
	});
}

// genericRows renders a list of flat objects (visitors, proxied clients)
// with the keys of its first element as columns.
function generic(id, title, list) {
	if (!Array.isArray(list))
		return E('div');
	var head = list.length ? Object.keys(list[0]) : [_('Entries')];
	return E('div', { 'class': 'cbi-section' }, [
		E('h3', {}, title),
		table(id, head, list.map(function(o) { return head.map(function(k) { return o[k]; }); }), _('None'))
	]);
}

return view.extend({
	load: function() {
		return Promise.all([callStatus(), callBindings()]);
	},

	draw: function(data) {
		var st = data[0] || {}, bd = data[1] || {};
		if (st.running === false || st.error)
			return E('div', { 'id': 'mip4d-status' }, [
				E('div', { 'class': 'alert-message warning', 'id': 'mip4d-down' },
					_('mip4d is not running: %s').replace('%s', st.error || _('no answer')))
			]);
		var counters = flatten('', { ha: st.ha ? st.ha.counters : undefined, mn: st.mn ? st.mn.counters : undefined, dataplane: st.dataplane }, []);
		return E('div', { 'id': 'mip4d-status' }, [
			E('div', { 'class': 'cbi-section' }, [E('h3', {}, _('Daemon')), summary(st)]),
			st.role === 'ha' ? E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('Mobility bindings')),
				table('mip4d-bindings', [_('Home address'), _('Care-of address'), _('NAI'), _('Endpoint'),
					_('Tunnel'), _('Reverse tunnel'), _('Foreign agent'), _('Remaining'), _('Registered')],
				bindingRows(bd.bindings), _('No bindings'))
			]) : E('div'),
			generic('mip4d-visitors', _('Visitors'), st.fa ? st.fa.visitors : null),
			generic('mip4d-clients', _('Proxied clients'), st.proxy ? st.proxy.clients : null),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('Counters')),
				table('mip4d-counters', [_('Counter'), _('Value')], counters, _('No counters'))
			])
		]);
	},

	render: function(data) {
		var self = this, root = E('div', {}, [
			E('h2', {}, _('Mobile IP')),
			E('div', { 'id': 'mip4d-body' }, self.draw(data))
		]);
		poll.add(function() {
			return self.load().then(function(d) {
				var body = root.querySelector('#mip4d-body');
				while (body.firstChild)
					body.removeChild(body.firstChild);
				body.appendChild(self.draw(d));
			});
		}, 5);
		return root;
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
