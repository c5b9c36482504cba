package uci_test

import (
	"fmt"
	"os"
	"strconv"

	"github.com/mip4d/mip4d/agent/uci"
)

// A config layer reads sections by type, converts values and reports a
// bad one at its line.
func Example() {
	src := []byte(`
config ha 'ha'
	option address '198.51.100.1'
	list trusted_network '10.0.0.0/8'
	list trusted_network '172.16.0.0/12'

config sa
	option spi '256'
	option key 'b1946ac92492d2347c6235b4d2611184'

config sa
	option spi 'x100'
`)
	f, err := uci.Parse("mip4d.conf", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	ha := f.Section("ha")
	addr, _ := ha.Get("address")
	fmt.Println("address", addr, "trusted", ha.List("trusted_network"))
	for _, s := range f.SectionsOfType("sa") {
		o := s.Option("spi")
		if _, err := strconv.ParseUint(o.Values[0], 0, 32); err != nil {
			fmt.Println(f.Errorf(o.Line, "%s: option %q: bad SPI %q", f.SectionRef(s), o.Name, o.Values[0]))
			continue
		}
		fmt.Println(f.SectionRef(s), "is", f.SectionID(s), "spi", o.Values[0])
	}
	// Output:
	// address 198.51.100.1 trusted [10.0.0.0/8 172.16.0.0/12]
	// @sa[0] is cfg027979 spi 256
	// mip4d.conf:12: @sa[1]: option "spi": bad SPI "x100"
}

// Editing and saving: the file is replaced atomically, 0600 because it
// holds keys, in the layout uci commit writes.
func ExampleWriteFile() {
	f := &uci.File{}
	ha, _ := f.AddSection("ha", "ha")
	ha.Set("address", "198.51.100.1")
	sa, _ := f.AddSection("sa", "")
	sa.Set("spi", "256")
	sa.Set("key", "it's a secret")

	dir, _ := os.MkdirTemp("", "uci-example")
	defer os.RemoveAll(dir)
	path := dir + "/mip4d"
	if err := uci.WriteFile(path, f, 0o600); err != nil {
		fmt.Println(err)
		return
	}
	text, _ := os.ReadFile(path)
	fmt.Print(string(text))
	// Output:
	//
	// config ha 'ha'
	// 	option address '198.51.100.1'
	//
	// config sa
	// 	option spi '256'
	// 	option key 'it'\''s a secret'
}
