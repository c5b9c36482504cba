//go:build nodbus

package nmwatch

import (
	"context"
	"errors"
)

func watchBus(context.Context, chan<- Event) error {
	return errors.New("nmwatch: built without D-Bus (tag nodbus): no NetworkManager here")
}
