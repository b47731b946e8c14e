package kontent

import (
	"errors"
	"fmt"
	"slices"
)

// DefaultDeliverySlots: only changes to published content purge caches;
// preview-slot notifications describe drafts no visitor sees.
var DefaultDeliverySlots = []string{SlotPublished}

// Config is a kontent source's own block of the config file.
type Config struct {
	// DeliverySlots lists the delivery slots whose notifications purge
	// (default DefaultDeliverySlots).
	DeliverySlots []string `yaml:"delivery_slots"`
}

// SetDefaults fills the unset fields with their defaults.
func (c *Config) SetDefaults() {
	if len(c.DeliverySlots) == 0 {
		c.DeliverySlots = slices.Clone(DefaultDeliverySlots)
	}
}

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	for i, s := range c.DeliverySlots {
		if s != SlotPublished && s != SlotPreview {
			errs = append(errs, fmt.Errorf("delivery_slots[%d]: unknown delivery slot %q (want published or preview)", i, s))
		}
	}
	return errors.Join(errs...)
}
