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

var roles = { ha: _('Home agent'), mn: _('Mobile node'), fa: _('Foreign agent'), proxy: _('Proxy (RFC 5563)') };

function summary(st) {
	var rows = [
		[_('Role'), roles[st.role] || st.role],
		[_('Version'), st.version],
		[_('Uptime'), duration(st.uptime)]
	];
	var dp = st.dataplane;
	if (dp && dp.mode)
		rows.push([_('Data plane'), dp.mode === 'bpf'
			? _('kernel (BPF) on %s').replace('%s', ((dp.bpf || {}).interfaces || []).join(', '))
			: _('userspace') + (dp.mode_reason ? ' (' + dp.mode_reason + ')' : '')]);
	// The last error the daemon logged (socket, netlink, data plane, state
	// file; a denied registration is not one), with its time.
	var le = st.last_error;
	rows.push([_('Last error'), le
		? (le.time ? new Date(le.time).toLocaleString() + ': ' : '') + le.msg + (le.detail ? ' (' + le.detail + ')' : '')
		: _('none')]);
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
	// A home agent of a redundant pair (keepalived decides the role).
	var rd = st.redundancy;
	if (rd) {
		rows.push([_('Redundancy role'), rd.role + (rd.since ? ' (' + _('since') + ' ' + new Date(rd.since).toLocaleString() + ')' : '')]);
		rows.push([_('Redundancy peer'), rd.peer + ' ' + (rd.connected
			? _('connected') + (rd.peer_role ? ', ' + rd.peer_role : '')
			: _('not connected'))]);
		rows.push([_('Replication lag'), rd.lag_entries + ' ' + _('entries') + ', ' + rd.lag_ms + ' ms']);
		rows.push([_('Bindings in the data plane'), rd.dataplane_bindings]);
	}
	if (st.mn && st.mn.registration && typeof st.mn.registration === 'object')
		Object.keys(st.mn.registration).sort().forEach(function(k) {
			var v = st.mn.registration[k];
			if (v == null || typeof v !== 'object')
				rows.push([k, v]);
		});
	var fa = st.fa;
	if (fa) {
		rows.push([_('Care-of address'), fa.care_of]);
		rows.push([_('Visitors\' link'), fa.link + (fa.link_address ? ' (' + fa.link_address + ')' : '')]);
		rows.push([_('Behind NAT'), fa.behind_nat]);
		rows.push([_('Visitors'), (fa.visitors || []).length]);
		rows.push([_('Requests pending'), fa.pending]);
	}
	var px = st.proxy;
	if (px) {
		var p = px.proxy || {};
		rows.push([_('Clients\' interface'), px.interface]);
		rows.push([_('Gateway'), px.gateway]);
		rows.push([_('Home agent'), p.home_agent]);
		rows.push([_('Care-of address'), p.care_of]);
		rows.push([_('Proxied clients'), (p.clients || []).length]);
		if (p.refused_by_home_agent)
			rows.push([_('Refused by the home agent'), p.refused_by_home_agent]);
	}
	return table('mip4d-summary', [_('Field'), _('Value')], rows, _('No data'));
}

function bindingRows(list) {
	return (list || []).map(function(b) {
		return [b.home_addr, b.care_of, b.nai, b.endpoint, b.tunnel, b.reverse_tunnel,
			b.foreign_agent, b.remaining + ' / ' + b.lifetime + ' s', b.registered,
			b.kernel ? b.kernel.encap_packets + ' / ' + b.kernel.decap_packets : '-'];
	});
}

function tunnelOf(udp, gre) {
	return udp ? 'udp/ipip' : gre ? 'gre' : 'ipip';
}

function remaining(until, lifetime) {
	var left = Math.max(0, Math.round((Date.parse(until) - Date.now()) / 1000));
	return (isNaN(left) ? '-' : left) + ' / ' + lifetime + ' s';
}

// visitorRows: the foreign agent's visitor list (mobile nodes served on
// its link, RFC 5944 §3.7.2).
function visitorRows(list) {
	return (list || []).map(function(v) {
		return [v.mac, v.home_addr, v.home_agent, v.nai, v.src, tunnelOf(v.udp, v.gre),
			v.reverse_tunnel, remaining(v.expires, v.lifetime), v.since];
	});
}

// clientRows: the proxy's clients (RFC 5563): who, which home address,
// in what state, since when, and what was exchanged for them.
function clientRows(list) {
	return (list || []).map(function(c) {
		var n = c.counters || {};
		return [c.mac, c.nai + (c.guest ? ' (' + _('guest') + ')' : ''), c.home_addr, c.state,
			c.bound_since ? duration(c.binding_age) : '-',
			c.lifetime ? c.lifetime_left + ' / ' + c.lifetime + ' s' : '-',
			c.udp_tunnel ? 'udp/ipip' : 'ipip',
			n.registrations + ' / ' + n.requests, n.probes, n.revocations, n.conflicts, c.last_reply];
	});
}

function section(title, t) {
	return E('div', { 'class': 'cbi-section' }, [E('h3', {}, title), t]);
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
		var counters = flatten('', {
			ha: st.ha ? st.ha.counters : undefined,
			mn: st.mn ? st.mn.counters : undefined,
			fa: st.fa ? st.fa.counters : undefined,
			proxy: st.proxy ? st.proxy.counters : undefined,
			dhcp: st.proxy ? st.proxy.dhcp : undefined,
			dataplane: st.dataplane,
			redundancy: st.redundancy
		}, []);
		return E('div', { 'id': 'mip4d-status' }, [
			section(_('Daemon'), summary(st)),
			st.role === 'ha' ? section(_('Mobility bindings'),
				table('mip4d-bindings', [_('Home address'), _('Care-of address'), _('NAI'), _('Endpoint'),
					_('Tunnel'), _('Reverse tunnel'), _('Foreign agent'), _('Remaining'), _('Registered'),
					_('Kernel plane out / in')],
				bindingRows(bd.bindings), _('No bindings'))) : E('div'),
			st.fa ? section(_('Visitors'),
				table('mip4d-visitors', [_('MAC'), _('Home address'), _('Home agent'), _('NAI'), _('From'),
					_('Tunnel'), _('Reverse tunnel'), _('Remaining'), _('Since')],
				visitorRows(st.fa.visitors), _('No visitors'))) : E('div'),
			st.proxy ? section(_('Proxied clients'),
				table('mip4d-clients', [_('MAC'), _('NAI'), _('Home address'), _('State'), _('Binding age'),
					_('Lifetime left'), _('Tunnel'), _('Registered / requests'), _('Presence probes'),
					_('Revocations'), _('MAC conflicts'), _('Last reply')],
				clientRows((st.proxy.proxy || {}).clients), _('No clients'))) : E('div'),
			section(_('Counters'), table('mip4d-counters', [_('Counter'), _('Value')], counters, _('No counters')))
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
