package mongodb

import (
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"ticketing/common/config"
)

// MinMaxStaleness is the least max staleness MongoDB accepts (maxStalenessSeconds 90).
const MinMaxStaleness = 90 * time.Second

// ListingReads is where a service's listing reads go: reads that only show data to anyone
// (the tickets catalogue), which may come from a secondary. Everything that decides (a
// hold, a payment, an expiry, a user's own orders right after a write) reads the primary:
// the client's read preference is always primary (Connect), and only a collection handle made
// with ReadPref reads elsewhere.
type ListingReads struct {
	// Mode (MONGODB_LISTING_READ_PREFERENCE, primary): primary, primaryPreferred,
	// secondary, secondaryPreferred or nearest.
	Mode string
	// MaxStaleness (MONGODB_LISTING_MAX_STALENESS, unset): with a mode other than primary,
	// a secondary further behind the primary than this is not read; at least 90s, as MongoDB
	// requires. Unset: no bound.
	MaxStaleness time.Duration
}

// readModes are the read preference modes by name, as in a MongoDB URI.
var readModes = map[string]readpref.Mode{
	"primary":            readpref.PrimaryMode,
	"primaryPreferred":   readpref.PrimaryPreferredMode,
	"secondary":          readpref.SecondaryMode,
	"secondaryPreferred": readpref.SecondaryPreferredMode,
	"nearest":            readpref.NearestMode,
}

// LoadListingReads reads MONGODB_LISTING_READ_PREFERENCE and MONGODB_LISTING_MAX_STALENESS
// from env, recording a bad value in env.
func LoadListingReads(env *config.Env) ListingReads {
	l := ListingReads{
		Mode: env.OneOf("MONGODB_LISTING_READ_PREFERENCE", "primary",
			"primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"),
		MaxStaleness: env.Duration("MONGODB_LISTING_MAX_STALENESS", 0),
	}
	if err := l.check(); err != nil {
		env.Fail("MONGODB_LISTING_MAX_STALENESS", "%v", err)
		l.MaxStaleness = 0
	}
	return l
}

func (l ListingReads) check() error {
	switch {
	case l.MaxStaleness == 0:
		return nil
	case l.Mode == "primary" || l.Mode == "":
		return fmt.Errorf("a max staleness needs MONGODB_LISTING_READ_PREFERENCE other than primary")
	case l.MaxStaleness < MinMaxStaleness:
		return fmt.Errorf("%s is below %s, the least MongoDB accepts", l.MaxStaleness, MinMaxStaleness)
	case l.MaxStaleness%time.Second != 0:
		return fmt.Errorf("%s is not a whole number of seconds", l.MaxStaleness)
	}
	return nil
}

// ReadPref is the read preference of the listing reads (primary for the zero value).
func (l ListingReads) ReadPref() (*readpref.ReadPref, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	mode, ok := readModes[l.Mode]
	if l.Mode == "" {
		mode, ok = readpref.PrimaryMode, true
	}
	if !ok {
		return nil, fmt.Errorf("mongodb: unknown read preference %q", l.Mode)
	}
	var opts []readpref.Option
	if l.MaxStaleness > 0 {
		opts = append(opts, readpref.WithMaxStaleness(l.MaxStaleness))
	}
	return readpref.New(mode, opts...)
}

// String is the setting for the configuration log.
func (l ListingReads) String() string {
	if l.Mode == "" {
		return "primary"
	}
	if l.MaxStaleness > 0 {
		return fmt.Sprintf("%s (max staleness %s)", l.Mode, l.MaxStaleness)
	}
	return l.Mode
}
