'use strict';
'require view';
'require form';
'require uci';
'require tools.widgets as widgets';

// Services > Mobile IP: /etc/config/mip4d. Every option here is an option
// of `mip4d schema --json` with the same datatype (a contract test checks
// both ways for required options). Options depend on the role in
// 'globals', so only what the chosen role reads is shown.
//
// Keys are write-only: the field is never filled from the configuration,
// an empty field leaves the stored key as it is, and a key is never put
// into the page.

var roleHA = { 'mip4d.globals.role': 'ha' };
var roleMN = { 'mip4d.globals.role': 'mn' };
var roleFA = { 'mip4d.globals.role': 'fa' };
var roleProxy = { 'mip4d.globals.role': 'proxy' };
// Sections both agents read: mobile nodes (MN-HA or MN-FA keys) and
// FA-HA peers.
var roleAgents = [roleHA, roleFA];

// depends shows o for any of roles (one role or a list).
function depends(o, roles) {
	(Array.isArray(roles) ? roles : [roles]).forEach(function(r) { o.depends(r); });
}

// secretOption adds a write-only secret: never filled from the
// configuration, an empty field keeps the stored value. required: the
// option must end up set.
function secretOption(s, name, title, help, role, required) {
	var o = s.option(form.Value, name, title, help);
	o.password = true;
	o.datatype = 'string';
	depends(o, role);
	o.modalonly = true;
	o.cfgvalue = function() { return ''; };
	o.write = function(section_id, value) {
		if (value != null && value !== '')
			uci.set('mip4d', section_id, name, value);
	};
	o.remove = function() {};
	o.validate = function(section_id, value) {
		if (required && (value == null || value === '') && uci.get('mip4d', section_id, name) == null)
			return _('A key is required');
		return true;
	};
	return o;
}

// keyOption adds the write-only key of a security association.
function keyOption(s, role, optional) {
	return secretOption(s, 'key', _('Key'),
		_('Shared key: text, or hex digits after 0x. Write-only: leave empty to keep the stored key.'), role, !optional);
}

// saOptions adds spi, key and algorithm.
function saOptions(s, role) {
	var o = s.option(form.Value, 'spi', _('SPI'),
		_('Security Parameter Index of the security association (256 and up)'));
	o.datatype = 'range(256,4294967295)';
	o.rmempty = false;
	depends(o, role);

	keyOption(s, role);

	o = s.option(form.ListValue, 'algorithm', _('Algorithm'),
		_('keyed-md5 (prefix+suffix) only for legacy peers'));
	o.value('hmac-md5', 'HMAC-MD5');
	o.value('keyed-md5', _('keyed-MD5 (legacy)'));
	o.default = 'hmac-md5';
	depends(o, role);
	o.modalonly = true;
}

// replayOptions adds replay protection.
function replayOptions(s, role) {
	var o = s.option(form.ListValue, 'replay', _('Replay protection'));
	o.value('timestamps', _('Timestamps'));
	o.value('nonces', _('Nonces'));
	o.default = 'timestamps';
	depends(o, role);
	o.modalonly = true;

	o = s.option(form.Value, 'tolerance', _('Timestamp tolerance'),
		_('Seconds a timestamp may differ from the home agent\'s clock'));
	o.datatype = 'range(1,3600)';
	o.placeholder = '7';
	(Array.isArray(role) ? role : [role]).forEach(function(r) {
		o.depends({ 'mip4d.globals.role': r['mip4d.globals.role'], 'replay': 'timestamps' });
	});
	o.modalonly = true;
}

return view.extend({
	render: function() {
		var m, s, o;

		m = new form.Map('mip4d', _('Mobile IP'),
			_('Mobile IPv4 (RFC 5944): this router as the home agent of roaming laptops, as the foreign agent of a hotspot, or as a mobile node itself. Status > Mobile IP shows bindings and counters.'));

		// globals
		s = m.section(form.NamedSection, 'globals', 'mip4d', _('General'));
		s.addremove = false;

		o = s.option(form.Flag, 'enabled', _('Enabled'), _('Start the daemon at boot'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.ListValue, 'role', _('Role'));
		o.value('ha', _('Home agent'));
		o.value('mn', _('Mobile node'));
		o.value('fa', _('Foreign agent (hotspot)'));
		o.value('proxy', _('Proxy for laptops without Mobile IP (hotspot)'));
		o.rmempty = false;

		o = s.option(form.ListValue, 'log_level', _('Log level'));
		o.value('debug', _('Debug'));
		o.value('info', _('Info'));
		o.value('warn', _('Warning'));
		o.value('error', _('Error'));
		o.default = 'info';

		o = s.option(form.ListValue, 'dataplane', _('Data plane'),
			_('Where tunnelled packets are handled. The kernel (BPF) plane needs kmod-sched-bpf; Automatic uses it when it loads and falls back to the daemon. Status shows which one runs, and why'));
		o.value('auto', _('Automatic'));
		o.value('bpf', _('Kernel (BPF)'));
		o.value('userspace', _('Daemon (userspace)'));
		o.default = 'auto';

		o = s.option(form.Value, 'state_dir', _('State directory'),
			_('Where the home agent keeps its bindings across restarts. /etc/mip4d (flash) survives a reboot; /var/run/mip4d (RAM) spares the flash'));
		o.datatype = 'file';
		o.placeholder = '/etc/mip4d';
		o.depends(roleHA);

		o = s.option(form.Value, 'run_dir', _('Runtime directory'),
			_('Where a proxy keeps its clients across restarts of the daemon (RAM: gone at reboot, no flash wear)'));
		o.datatype = 'file';
		o.placeholder = '/var/run/mip4d';
		o.depends(roleProxy);

		o = s.option(form.Value, 'control_socket', _('Control socket'));
		o.datatype = 'file';
		o.placeholder = '/var/run/mip4d.sock';

		// home agent
		s = m.section(form.NamedSection, 'homeagent', 'homeagent', _('Home agent'));
		s.addremove = true;

		o = s.option(form.Value, 'address', _('Home agent address'),
			_('Mobile nodes register to it and tunnels start from it'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		o.depends(roleHA);

		o = s.option(form.Value, 'home_network', _('Home network'),
			_('The prefix home addresses come from'));
		o.datatype = 'cidr4';
		o.rmempty = false;
		o.depends(roleHA);

		o = s.option(form.Value, 'interface', _('Tunnel device'),
			_('TUN device that carries the virtual home network'));
		o.datatype = 'device';
		o.placeholder = 'mip4d0';
		o.depends(roleHA);

		o = s.option(widgets.DeviceSelect, 'home_link', _('Home link'),
			_('A real interface on the home network: mip4d answers ARP there for nodes that are away'));
		o.datatype = 'device';
		o.noaliases = true;
		o.optional = true;
		o.depends(roleHA);

		o = s.option(form.Value, 'mtu', _('Path MTU'));
		o.datatype = 'range(576,9000)';
		o.placeholder = '1500';
		o.depends(roleHA);

		o = s.option(form.Value, 'max_lifetime', _('Maximum lifetime'), _('Seconds'));
		o.datatype = 'range(1,65535)';
		o.placeholder = '600';
		o.depends(roleHA);

		o = s.option(form.Value, 'max_bindings', _('Simultaneous bindings'), _('Per mobile node; 1 disables them'));
		o.datatype = 'range(1,64)';
		o.placeholder = '1';
		o.depends(roleHA);

		o = s.option(form.Flag, 'nat_traversal', _('NAT traversal'), _('RFC 3519 UDP tunnelling when a NAT is detected'));
		o.default = '1';
		o.depends(roleHA);

		o = s.option(form.Flag, 'force_udp', _('Allow forced UDP'), _('Mobile nodes may ask for UDP tunnelling without a NAT'));
		o.default = '0';
		o.depends(roleHA);

		o = s.option(form.Value, 'keepalive', _('NAT keepalive'), _('Seconds; 0: the nodes\' default'));
		o.datatype = 'range(0,65535)';
		o.placeholder = '110';
		o.depends(roleHA);

		o = s.option(form.Flag, 'gre', _('Offer GRE'));
		o.default = '1';
		o.depends(roleHA);

		o = s.option(form.Flag, 'reverse_tunnel_required', _('Require reverse tunnelling'));
		o.default = '0';
		o.depends(roleHA);

		o = s.option(form.Flag, 'revocation', _('Registration revocation'), _('RFC 3543'));
		o.default = '1';
		o.depends(roleHA);

		o = s.option(form.DynamicList, 'trusted_network', _('Trusted networks'),
			_('Registrations from these sources are from inside (RFC 5265)'));
		o.datatype = 'cidr4';
		o.depends(roleHA);

		o = s.option(form.Value, 'pool_start', _('Pool start'), _('First home address handed out by NAI (RFC 2794)'));
		o.datatype = 'ip4addr';
		o.depends(roleHA);

		o = s.option(form.Value, 'pool_end', _('Pool end'));
		o.datatype = 'ip4addr';
		o.depends(roleHA);

		o = s.option(form.Value, 'pool_hold', _('Pool hold time'), _('Seconds a released address stays reserved for its NAI'));
		o.datatype = 'uinteger';
		o.placeholder = '3600';
		o.depends(roleHA);

		o = s.option(form.ListValue, 'redundancy_role', _('Redundancy role at first start'),
			_('With a redundancy peer: the role until keepalived says otherwise (mip4d ha-role); later starts resume the last role told'));
		o.value('master', _('Master'));
		o.value('backup', _('Backup'));
		o.optional = true;
		o.depends(roleHA);

		// the other home agent of a redundant pair
		s = m.section(form.GridSection, 'ha_peer', _('Redundancy peer'),
			_('The other home agent of a pair that keepalived (VRRP) fails over between: the home agent address above is then the virtual address. Bindings, pool leases and replay state are replicated to it over TCP, authenticated with HMAC-SHA256. One peer'));
		s.anonymous = true;
		s.addremove = true;
		s.nodescriptions = true;

		o = s.option(form.Value, 'address', _('Peer address'), _('The peer\'s own replication address (not the virtual address)'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		o.depends(roleHA);

		o = s.option(form.Value, 'local_address', _('Local address'), _('This home agent\'s own replication address (not the virtual address)'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		o.depends(roleHA);

		o = s.option(form.Value, 'port', _('Port'), _('TCP, the same on both'));
		o.datatype = 'port';
		o.placeholder = '4340';
		o.depends(roleHA);

		o = secretOption(s, 'key', _('Key'),
			_('HMAC-SHA256 key shared by the pair: at least 32 bytes as hex digits (64 or more, 0x optional). Write-only: leave empty to keep the stored key.'), roleHA, true);
		var checkKey = o.validate;
		o.validate = function(section_id, value) {
			if (value != null && value !== '' && !/^(0x)?([0-9a-fA-F]{2}){32,}$/.test(value))
				return _('At least 64 hex digits (32 bytes)');
			return checkKey.apply(this, [section_id, value]);
		};

		// the home agent's mobile nodes
		s = m.section(form.GridSection, 'mobile_node', _('Mobile nodes'),
			_('A home agent: the nodes it serves, each with its MN-HA key. A foreign agent: nodes with an MN-FA key (optional)'));
		s.anonymous = true;
		s.addremove = true;
		s.nodescriptions = true;

		o = s.option(form.Value, 'nai', _('NAI'), _('user@realm; required for pool addresses'));
		o.datatype = 'string';
		depends(o, roleAgents);

		o = s.option(form.Value, 'home_address', _('Home address'), _('Leave empty to assign one from the pool'));
		o.datatype = 'ip4addr';
		depends(o, roleAgents);

		saOptions(s, roleAgents);
		replayOptions(s, roleAgents);

		// FA-HA security associations
		s = m.section(form.GridSection, 'agent_peer', _('Agent peers (FA-HA keys)'),
			_('A home agent: foreign agents and proxies that relay registrations to it. A foreign agent: home agents it relays to'));
		s.anonymous = true;
		s.addremove = true;
		s.nodescriptions = true;

		o = s.option(form.Value, 'address', _('Address'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		depends(o, roleAgents);

		saOptions(s, roleAgents);

		// foreign agent
		s = m.section(form.NamedSection, 'foreignagent', 'foreignagent', _('Foreign agent'),
			_('Advertises this router to visiting mobile nodes on a link and relays their registrations (RFC 5944 §3.7); reverse-tunnels their traffic to their home agents (RFC 3024)'));
		s.addremove = true;

		o = s.option(widgets.DeviceSelect, 'interface', _('Visitors\' interface'), _('Advertisements go out and registrations come in here'));
		o.datatype = 'device';
		o.noaliases = true;
		o.rmempty = false;
		o.depends(roleFA);

		o = s.option(widgets.DeviceSelect, 'uplink', _('Uplink'), _('Its address is the care-of address; default: the default route\'s interface'));
		o.datatype = 'device';
		o.noaliases = true;
		o.optional = true;
		o.depends(roleFA);

		o = s.option(form.Value, 'care_of', _('Care-of address'), _('Default: the uplink\'s address'));
		o.datatype = 'ip4addr';
		o.depends(roleFA);

		o = s.option(form.Value, 'tun', _('Tunnel device'));
		o.datatype = 'device';
		o.placeholder = 'mip4d0';
		o.depends(roleFA);

		o = s.option(form.Value, 'mtu', _('Path MTU'));
		o.datatype = 'range(576,9000)';
		o.placeholder = '1500';
		o.depends(roleFA);

		o = s.option(form.Value, 'max_lifetime', _('Maximum lifetime'), _('Seconds; longer requests are denied'));
		o.datatype = 'range(1,65535)';
		o.placeholder = '600';
		o.depends(roleFA);

		o = s.option(form.Value, 'advertise_interval', _('Advertisement interval'), _('Seconds; nodes notice a move within about this long'));
		o.datatype = 'range(1,1800)';
		o.placeholder = '1';
		o.depends(roleFA);

		o = s.option(form.Flag, 'reverse_tunnel', _('Reverse tunnelling'), _('RFC 3024; needed through VPN gateways and ingress filters'));
		o.default = '1';
		o.depends(roleFA);

		o = s.option(form.Flag, 'reverse_tunnel_required', _('Require reverse tunnelling'));
		o.default = '0';
		o.depends(roleFA);

		o = s.option(form.ListValue, 'behind_nat', _('Behind a NAT'), _('Ask home agents for RFC 3519 UDP tunnelling; automatic when the care-of address is private'));
		o.value('auto', _('Automatic'));
		o.value('1', _('Yes'));
		o.value('0', _('No'));
		o.default = 'auto';
		o.depends(roleFA);

		o = s.option(form.Flag, 'revocation', _('Revocation'), _('RFC 3543'));
		o.default = '1';
		o.depends(roleFA);

		o = s.option(form.Flag, 'registration_required', _('Registration required'), _('R bit: co-located nodes must register through this agent too'));
		o.default = '0';
		o.depends(roleFA);

		o = s.option(form.Flag, 'challenges', _('Challenges'), _('RFC 4721; needs MN-FA keys'));
		o.default = '0';
		o.depends(roleFA);

		o = s.option(form.Value, 'max_visitors', _('Maximum visitors'));
		o.datatype = 'range(1,65535)';
		o.placeholder = '1024';
		o.depends(roleFA);

		// proxy (RFC 5563)
		s = m.section(form.NamedSection, 'proxy', 'proxy', _('Proxy Mobile IP'),
			_('Registers laptops that have only a DHCP client with their home agent, so they keep their address and their VPN from hotspot to hotspot (RFC 5563). Turn off dnsmasq\'s DHCP on the clients\' interface.'));
		s.addremove = true;

		o = s.option(widgets.DeviceSelect, 'interface', _('Clients\' interface'), _('DHCP is served here'));
		o.datatype = 'device';
		o.noaliases = true;
		o.rmempty = false;
		o.depends(roleProxy);

		o = s.option(form.Value, 'home_agent', _('Home agent'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		o.depends(roleProxy);

		saOptions(s, roleProxy);

		o = s.option(form.Value, 'gateway', _('Gateway address'), _('The clients\' router and DHCP server: the same on every hotspot'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		o.depends(roleProxy);

		o = s.option(form.Value, 'gateway_mac', _('Gateway MAC'), _('The same on every hotspot'));
		o.datatype = 'macaddr';
		o.depends(roleProxy);

		o = s.option(form.Value, 'client_network', _('Client network'), _('Mask for clients: a prefix with their home addresses and the gateway; empty: /32 with classless routes'));
		o.datatype = 'cidr4';
		o.depends(roleProxy);

		o = s.option(form.DynamicList, 'dns', _('DNS servers'));
		o.datatype = 'ip4addr';
		o.depends(roleProxy);

		o = s.option(form.Value, 'domain', _('Domain'));
		o.datatype = 'string';
		o.depends(roleProxy);
		o.modalonly = true;

		o = s.option(form.Value, 'client_mtu', _('Client MTU'));
		o.datatype = 'range(576,9000)';
		o.depends(roleProxy);
		o.modalonly = true;

		o = s.option(widgets.DeviceSelect, 'uplink', _('Uplink'), _('Its address is the care-of address; default: the default route\'s interface'));
		o.datatype = 'device';
		o.noaliases = true;
		o.optional = true;
		o.depends(roleProxy);

		o = s.option(form.Value, 'care_of', _('Care-of address'), _('Default: the uplink\'s address'));
		o.datatype = 'ip4addr';
		o.depends(roleProxy);

		o = s.option(form.Value, 'lifetime', _('Lifetime'), _('Seconds asked for'));
		o.datatype = 'range(1,65535)';
		o.placeholder = '300';
		o.depends(roleProxy);

		o = s.option(form.ListValue, 'udp_tunnel', _('UDP tunnelling'), _('RFC 3519; automatic when the care-of address is private'));
		o.value('auto', _('Automatic'));
		o.value('1', _('Yes'));
		o.value('0', _('No'));
		o.default = 'auto';
		o.depends(roleProxy);

		o = s.option(form.Flag, 'force_udp', _('Force UDP'));
		o.default = '0';
		o.depends(roleProxy);

		o = s.option(form.Flag, 'revocation', _('Revocation'), _('RFC 3543: the home agent says when a client moved on'));
		o.default = '1';
		o.depends(roleProxy);

		o = s.option(form.Flag, 'device_id', _('Send the client\'s MAC'), _('RFC 5563 §5.3'));
		o.default = '0';
		o.depends(roleProxy);

		o = s.option(form.Value, 'unknown_nai', _('Unknown clients'), _('Empty refuses them; a pattern such as %m@guests.example.net admits them with derived keys'));
		o.datatype = 'string';
		o.depends(roleProxy);

		secretOption(s, 'master_key', _('Master key'), _('Derives clients\' keys (mip4d proxy-key prints them for the home agent). Write-only.'), roleProxy, false);

		o = s.option(form.Value, 'key_spi', _('SPI of derived keys'));
		o.datatype = 'range(256,4294967295)';
		o.placeholder = '256';
		o.depends(roleProxy);
		o.modalonly = true;

		o = s.option(form.Value, 'max_clients', _('Maximum clients'));
		o.datatype = 'range(1,65535)';
		o.placeholder = '256';
		o.depends(roleProxy);
		o.modalonly = true;

		o = s.option(form.Value, 'conflict_window', _('MAC conflict window'), _('Seconds a client must have been here to take its binding back when its MAC shows up at another hotspot'));
		o.datatype = 'range(1,3600)';
		o.placeholder = '60';
		o.depends(roleProxy);
		o.modalonly = true;

		o = s.option(form.Value, 'quarantine', _('MAC quarantine'), _('Seconds a MAC that lost a conflict is refused'));
		o.datatype = 'range(1,86400)';
		o.placeholder = '600';
		o.depends(roleProxy);
		o.modalonly = true;

		o = s.option(form.Value, 'tun', _('Tunnel device'));
		o.datatype = 'device';
		o.placeholder = 'mip4d0';
		o.depends(roleProxy);
		o.modalonly = true;

		o = s.option(form.Value, 'mtu', _('Path MTU'));
		o.datatype = 'range(576,9000)';
		o.placeholder = '1500';
		o.depends(roleProxy);
		o.modalonly = true;

		// the proxy's clients
		s = m.section(form.GridSection, 'proxy_client', _('Proxied clients'),
			_('Laptops by MAC, with the identity they register under and their key (or one derived from the master key)'));
		s.anonymous = true;
		s.addremove = true;
		s.nodescriptions = true;

		o = s.option(form.Value, 'mac', _('MAC'));
		o.datatype = 'macaddr';
		o.rmempty = false;
		o.depends(roleProxy);

		o = s.option(form.Value, 'nai', _('NAI'));
		o.datatype = 'string';
		o.rmempty = false;
		o.depends(roleProxy);

		o = s.option(form.Value, 'home_address', _('Home address'), _('Empty: from the home agent\'s pool'));
		o.datatype = 'ip4addr';
		o.depends(roleProxy);

		o = s.option(form.Value, 'spi', _('SPI'), _('With a key of its own'));
		o.datatype = 'range(256,4294967295)';
		o.depends(roleProxy);
		o.modalonly = true;

		keyOption(s, roleProxy, true);

		o = s.option(form.ListValue, 'algorithm', _('Algorithm'));
		o.value('hmac-md5', 'HMAC-MD5');
		o.value('keyed-md5', _('keyed-MD5 (legacy)'));
		o.default = 'hmac-md5';
		o.depends(roleProxy);
		o.modalonly = true;

		// mobile node
		s = m.section(form.NamedSection, 'mobilenode', 'mobilenode', _('Mobile node'));
		s.addremove = true;

		o = s.option(form.Value, 'home_agent', _('Home agent'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		o.depends(roleMN);

		o = s.option(form.Value, 'nai', _('NAI'), _('Required without a home address'));
		o.datatype = 'string';
		o.depends(roleMN);

		o = s.option(form.Value, 'home_address', _('Home address'), _('Leave empty to be given one'));
		o.datatype = 'ip4addr';
		o.depends(roleMN);

		o = s.option(form.Value, 'home_network', _('Home network'), _('An address in it on the uplink means the node is home'));
		o.datatype = 'cidr4';
		o.depends(roleMN);

		o = s.option(form.ListValue, 'mode', _('Care-of address'),
			_('Co-located: the uplink\'s own address is the care-of address; foreign agent: register through an agent heard on the uplink'));
		o.value('colocated', _('Co-located'));
		o.value('fa', _('Foreign agent'));
		o.default = 'colocated';
		o.depends(roleMN);

		o = s.option(widgets.DeviceSelect, 'uplink', _('Uplink'), _('Its address is the care-of address; default: the default route\'s interface'));
		o.datatype = 'device';
		o.noaliases = true;
		o.optional = true;
		o.depends(roleMN);

		o = s.option(form.Value, 'interface', _('Tunnel device'));
		o.datatype = 'device';
		o.placeholder = 'mip4d0';
		o.depends(roleMN);

		o = s.option(form.Value, 'mtu', _('Uplink MTU'));
		o.datatype = 'range(576,9000)';
		o.placeholder = '1500';
		o.depends(roleMN);

		o = s.option(form.Value, 'lifetime', _('Lifetime'), _('Seconds asked for'));
		o.datatype = 'range(1,65535)';
		o.placeholder = '300';
		o.depends(roleMN);

		o = s.option(form.Flag, 'reverse_tunnel', _('Reverse tunnelling'));
		o.default = '1';
		o.depends(roleMN);

		o = s.option(form.Flag, 'udp_tunnel', _('UDP tunnelling'), _('RFC 3519, granted when the home agent sees a NAT'));
		o.default = '1';
		o.depends(roleMN);

		o = s.option(form.Flag, 'force_udp', _('Force UDP'));
		o.default = '0';
		o.depends(roleMN);

		o = s.option(form.Value, 'keepalive', _('NAT keepalive'), _('Seconds, when the home agent gives none'));
		o.datatype = 'range(0,65535)';
		o.placeholder = '110';
		o.depends(roleMN);

		o = s.option(form.DynamicList, 'route', _('Routes through the tunnel'), _('Default: 0.0.0.0/0'));
		o.datatype = 'cidr4';
		o.depends(roleMN);

		o = s.option(form.Value, 'vpn_up', _('VPN up command'), _('RFC 5265 dual mode: brings the VPN up over the home address when outside'));
		o.datatype = 'string';
		o.depends(roleMN);
		o.modalonly = true;

		o = s.option(form.Value, 'vpn_down', _('VPN down command'), _('RFC 5265 dual mode: takes the VPN down when inside'));
		o.datatype = 'string';
		o.depends(roleMN);

		o = s.option(form.Value, 'vpn_interface', _('VPN interface'), _('Where the VPN\'s inner address appears'));
		o.datatype = 'device';
		o.placeholder = 'ipsec0';
		o.depends(roleMN);

		saOptions(s, roleMN);
		replayOptions(s, roleMN);

		// RFC 5265 dual mode: the internal home agent
		s = m.section(form.NamedSection, 'internal', 'internal', _('Internal home agent (dual mode)'),
			_('With this section the node also registers with the intranet\'s home agent and runs the VPN only when outside'));
		s.addremove = true;

		o = s.option(form.Value, 'home_agent', _('Internal home agent'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		o.depends(roleMN);

		o = s.option(form.Value, 'home_address', _('Internal home address'));
		o.datatype = 'ip4addr';
		o.rmempty = false;
		o.depends(roleMN);

		o = s.option(form.Value, 'nai', _('NAI'));
		o.datatype = 'string';
		o.depends(roleMN);

		o = s.option(form.Value, 'home_network', _('Internal home network'));
		o.datatype = 'cidr4';
		o.depends(roleMN);

		o = s.option(form.DynamicList, 'route', _('Intranet routes'));
		o.datatype = 'cidr4';
		o.depends(roleMN);

		o = s.option(form.Value, 'interface', _('Tunnel device'));
		o.datatype = 'device';
		o.placeholder = 'mip4d1';
		o.depends(roleMN);

		o = s.option(form.Value, 'port', _('UDP port'));
		o.datatype = 'port';
		o.placeholder = '4340';
		o.depends(roleMN);

		o = s.option(form.Value, 'lifetime', _('Lifetime'), _('Seconds; also bounds how long a move out goes unnoticed'));
		o.datatype = 'range(1,65535)';
		o.placeholder = '60';
		o.depends(roleMN);

		o = s.option(form.Flag, 'udp_tunnel', _('UDP tunnelling'));
		o.default = '1';
		o.depends(roleMN);

		o = s.option(form.Flag, 'force_udp', _('Force UDP'));
		o.default = '1';
		o.depends(roleMN);

		saOptions(s, roleMN);
		replayOptions(s, roleMN);

		return m.render();
	}
});
