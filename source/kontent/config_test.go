package kontent

import (
	"slices"
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	if !slices.Equal(c.DeliverySlots, []string{SlotPublished}) {
		t.Errorf("default slots %q", c.DeliverySlots)
	}
	if err := (Config{DeliverySlots: []string{SlotPublished, SlotPreview}}).Validate(); err != nil {
		t.Errorf("published and preview: %v", err)
	}
	err := Config{DeliverySlots: []string{SlotPreview, "production"}}.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), `delivery_slots[1]: unknown delivery slot "production"`) {
		t.Errorf("unknown slot: %v", err)
	}
}
