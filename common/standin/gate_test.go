package standin

import (
	"bytes"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The gate takes maxTimeMS out of commands and leaves everything else as it was.
func TestWithoutMaxTimeMS(t *testing.T) {
	db := bson.E{Key: "$db", Value: "app"}
	filter := bson.E{Key: "filter", Value: bson.D{{Key: "_id", Value: "a"}}}
	for name, c := range map[string]struct{ in, want []byte }{
		"find": {
			opMsgOf(t, bson.D{{Key: "find", Value: "c"}, filter, {Key: "maxTimeMS", Value: int64(4500)}, db}, ""),
			opMsgOf(t, bson.D{{Key: "find", Value: "c"}, filter, db}, ""),
		},
		"with a document sequence": {
			opMsgOf(t, bson.D{{Key: "update", Value: "c"}, {Key: "maxTimeMS", Value: int32(9)}, db}, "updates", bson.D{{Key: "q", Value: bson.D{}}}),
			opMsgOf(t, bson.D{{Key: "update", Value: "c"}, db}, "updates", bson.D{{Key: "q", Value: bson.D{}}}),
		},
		"none": {
			opMsgOf(t, bson.D{{Key: "find", Value: "c"}, filter, db}, ""),
			opMsgOf(t, bson.D{{Key: "find", Value: "c"}, filter, db}, ""),
		},
		"not an OP_MSG": {[]byte("short"), []byte("short")},
	} {
		if got := withoutMaxTimeMS(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("%s: got %q, want %q", name, got, c.want)
		}
	}
	// A checksummed message is passed on as it is: rewriting it would break the checksum.
	in := opMsgOf(t, bson.D{{Key: "find", Value: "c"}, {Key: "maxTimeMS", Value: int64(1)}, db}, "")
	in[16] |= 1
	if got := withoutMaxTimeMS(in); !bytes.Equal(got, in) {
		t.Error("checksummed message rewritten")
	}
}
