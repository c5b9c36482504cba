// compileView loads a LuCI view module the way LuCI's L.require does: the
// file is a function body whose 'require X' / 'require X as Y' directives
// name its dependencies, which become its parameters (Y, or the last part
// of X). deps maps a dependency name (X) to the object to pass; E, _ and L
// are passed too, as LuCI makes them globals. Used by the tests in node and
// in Chromium; it is part of the tests' stand-in for LuCI, not LuCI.
function compileView(source, deps, globals) {
	var names = [], args = [], re = /^\s*'require\s+([A-Za-z0-9_.]+)(?:\s+as\s+([A-Za-z0-9_]+))?'\s*;/mg, m;
	while ((m = re.exec(source)) !== null) {
		if (!(m[1] in deps))
			throw new Error('stand-in has no module ' + m[1]);
		names.push(m[2] || m[1].split('.').pop());
		args.push(deps[m[1]]);
	}
	var fn = new Function(['E', '_', 'L'].concat(names).join(','), source);
	return fn.apply(null, [globals.E, globals._, globals.L].concat(args));
}
if (typeof module !== 'undefined')
	module.exports = { compileView: compileView };
