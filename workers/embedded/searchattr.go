package embedded

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/searchattribute/sadefs"
)

// searchAttributeLimits returns how many custom search attributes of each
// type one namespace can have with SQL visibility: the visibility table, of
// SQLite and PostgreSQL alike, has that many pre-made columns per type (for
// example Keyword01 to Keyword10), and custom attributes are aliases for
// them.
func searchAttributeLimits() map[enums.IndexedValueType]int {
	limits := map[enums.IndexedValueType]int{}
	for _, t := range sadefs.GetDBIndexSearchAttributes(nil).GetCustomSearchAttributes() {
		limits[t]++
	}
	return limits
}

// validateSearchAttributes checks names and types the way the operator
// service would, and that a fresh namespace could hold them all.
func validateSearchAttributes(attrs map[string]enums.IndexedValueType) error {
	limits := searchAttributeLimits()
	count := map[enums.IndexedValueType]int{}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		t := attrs[name]
		if name == "" {
			return errors.New("search attribute with empty name")
		}
		if sadefs.IsReserved(name) {
			return fmt.Errorf("search attribute %s: name is reserved by Temporal", name)
		}
		if limits[t] == 0 {
			return fmt.Errorf("search attribute %s: type %s cannot be used for custom search attributes", name, t)
		}
		count[t]++
	}
	for t, n := range count {
		if n > limits[t] {
			return fmt.Errorf("%d search attributes of type %s requested; SQL visibility allows at most %d per namespace", n, t, limits[t])
		}
	}
	return nil
}

// registerSearchAttributes makes sure namespace has attrs, adding the missing
// ones through the operator service. It reports whether it added any: the
// server's services learn of added attributes only at their next namespace
// cache refresh.
func registerSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enums.IndexedValueType) (added bool, err error) {
	if len(attrs) == 0 {
		return false, nil
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return false, fmt.Errorf("list search attributes: %w", err)
	}
	have := resp.GetCustomAttributes()
	missing := map[string]enums.IndexedValueType{}
	for name, t := range attrs {
		got, ok := have[name]
		switch {
		case !ok:
			missing[name] = t
		case got != t:
			return false, fmt.Errorf("search attribute %s is registered on namespace %s as %s, not %s", name, namespace, got, t)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return false, fmt.Errorf("add search attributes %v: %w", slices.Sorted(maps.Keys(missing)), err)
	}
	return true, nil
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
