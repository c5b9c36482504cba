// node contract.js config.js: runs the LuCI config view against a
// recording stand-in of LuCI's form API (a stand-in, not LuCI) and prints
// what it declares as JSON: sections with their options' class, datatype,
// values, depends, and whether a password field is pre-filled.
'use strict';
var fs = require('fs');
var compileView = require('./luci-module.js').compileView;

var uciStore = {};
var uci = {
	get: function(c, s, o) { return (uciStore[s] || {})[o]; },
	set: function(c, s, o, v) { (uciStore[s] = uciStore[s] || {})[o] = v; }
};

function klass(kind) {
	var K = function() {};
	K.kind = kind;
	return K;
}
var form = {
	Map: function(config) { this.config = config; this.sections = []; },
	NamedSection: klass('NamedSection'),
	TypedSection: klass('TypedSection'),
	GridSection: klass('GridSection'),
	TableSection: klass('TableSection'),
	Value: klass('Value'),
	ListValue: klass('ListValue'),
	Flag: klass('Flag'),
	DynamicList: klass('DynamicList'),
	MultiValue: klass('MultiValue'),
	DummyValue: klass('DummyValue')
};
var widgets = { DeviceSelect: klass('DeviceSelect'), NetworkSelect: klass('NetworkSelect') };

form.Map.prototype.section = function(cls, a, b) {
	var s = { kind: cls.kind, options: [] };
	if (cls.kind === 'NamedSection') { s.name = a; s.type = b; } else { s.type = a; }
	s.option = function(ocls, name) {
		var o = { kind: ocls.kind, name: name, values: [], dependsList: [] };
		o.value = function(k) { o.values.push(k); };
		o.depends = function(d, v) {
			if (typeof d === 'string') { var x = {}; x[d] = v; d = x; }
			o.dependsList.push(d);
		};
		s.options.push(o);
		return o;
	};
	this.sections.push(s);
	return s;
};
form.Map.prototype.render = function() {
	var self = this;
	return {
		config: self.config,
		sections: self.sections.map(function(s) {
			return {
				kind: s.kind, type: s.type, name: s.name || '',
				options: s.options.map(function(o) {
					var pre = null;
					if (o.password) {
						// A key stored in the configuration must not come back.
						uci.set('mip4d', 'probe', o.name, 'SECRET-PROBE');
						pre = typeof o.cfgvalue === 'function' ? o.cfgvalue('probe') : 'SECRET-PROBE';
						pre = (pre === '' || pre == null) ? '' : String(pre);
						// Empty means unchanged: writing '' keeps the stored key.
						if (typeof o.write === 'function') o.write('probe', '');
						if (uci.get('mip4d', 'probe', o.name) !== 'SECRET-PROBE') pre = 'overwritten by an empty field';
						if (typeof o.remove === 'function') o.remove('probe');
						if (uci.get('mip4d', 'probe', o.name) !== 'SECRET-PROBE') pre = 'removed by an empty field';
					}
					return {
						kind: o.kind, name: o.name, datatype: o.datatype || '', values: o.values,
						depends: o.dependsList, password: !!o.password, prefilled: pre
					};
				})
			};
		})
	};
};

var src = fs.readFileSync(process.argv[2], 'utf8');
var v = compileView(src, {
	view: { extend: function(o) { return o; } },
	form: form, uci: uci, 'tools.widgets': widgets
}, { E: function() { return {}; }, _: function(s) { return s; }, L: {} });
process.stdout.write(JSON.stringify(v.render(), null, 1) + '\n');
