package slack

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// cacheTTL bounds how stale a user or group lookup may be.
const cacheTTL = 5 * time.Minute

// Rule is one authorization rule; exactly one field is set.
type Rule struct {
	WorkspaceMembers bool
	UserGroup        string // handle, e.g. engineering
	UserID           string
}

// ParseRules reads the config's `authorized:` list of single-key maps.
func ParseRules(items []map[string]any) ([]Rule, error) {
	var rules []Rule
	for i, it := range items {
		if len(it) != 1 {
			return nil, fmt.Errorf("authorized[%d]: want exactly one of workspace_members, user_group, user_id", i)
		}
		for k, v := range it {
			switch k {
			case "workspace_members":
				b, ok := v.(bool)
				if !ok {
					return nil, fmt.Errorf("authorized[%d].workspace_members: want true or false", i)
				}
				rules = append(rules, Rule{WorkspaceMembers: b})
			case "user_group":
				s, ok := v.(string)
				if !ok || s == "" {
					return nil, fmt.Errorf("authorized[%d].user_group: want a group handle", i)
				}
				rules = append(rules, Rule{UserGroup: strings.TrimPrefix(s, "@")})
			case "user_id":
				s, ok := v.(string)
				if !ok || s == "" {
					return nil, fmt.Errorf("authorized[%d].user_id: want a user ID like U0123", i)
				}
				rules = append(rules, Rule{UserID: s})
			default:
				return nil, fmt.Errorf("authorized[%d]: unknown rule %q (want workspace_members, user_group or user_id)", i, k)
			}
		}
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("authorized: at least one rule is needed")
	}
	return rules, nil
}

// Authorizer decides who may use the bot, with cached lookups.
type Authorizer struct {
	API    *slack.Client
	TeamID string
	Rules  []Rule

	mu     sync.Mutex
	users  map[string]cached[*slack.User]
	groups map[string]cached[[]string] // handle → members
}

type cached[T any] struct {
	v  T
	at time.Time
}

// Authorize returns the user (for display) or the reason they may not
// use the bot. It fails closed: a failed lookup, or a team that is not
// known on either side, is a refusal.
func (a *Authorizer) Authorize(ctx context.Context, userID string) (*slack.User, string) {
	u, err := a.user(ctx, userID)
	switch {
	case err != nil:
		return nil, "failed to fetch user info: " + err.Error()
	case u.IsBot:
		return u, "bots may not use this bot"
	case u.Deleted:
		return u, "user is deactivated"
	case a.TeamID == "" || u.TeamID == "":
		// Membership that cannot be established is denied: the rules
		// below (workspace_members above all) assume a member.
		return u, "user's team is unknown; treated as external to this workspace"
	case u.TeamID != a.TeamID:
		return u, "user is external to this workspace"
	}
	for _, r := range a.Rules {
		switch {
		case r.WorkspaceMembers && !u.IsRestricted && !u.IsUltraRestricted:
			return u, ""
		case r.UserID != "" && r.UserID == u.ID:
			return u, ""
		case r.UserGroup != "":
			members, err := a.group(ctx, r.UserGroup)
			if err == nil && slices.Contains(members, u.ID) {
				return u, ""
			}
		}
	}
	return u, "no authorization rule matched"
}

func (a *Authorizer) user(ctx context.Context, id string) (*slack.User, error) {
	a.mu.Lock()
	if c, ok := a.users[id]; ok && time.Since(c.at) < cacheTTL {
		a.mu.Unlock()
		return c.v, nil
	}
	a.mu.Unlock()
	u, err := a.API.GetUserInfoContext(ctx, id)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.users == nil {
		a.users = map[string]cached[*slack.User]{}
	}
	a.users[id] = cached[*slack.User]{u, time.Now()}
	a.mu.Unlock()
	return u, nil
}

// group resolves a handle to its members; on a failed refresh the stale
// members are used rather than locking everyone out.
func (a *Authorizer) group(ctx context.Context, handle string) ([]string, error) {
	a.mu.Lock()
	c, ok := a.groups[handle]
	a.mu.Unlock()
	if ok && time.Since(c.at) < cacheTTL {
		return c.v, nil
	}
	members, err := a.fetchGroup(ctx, handle)
	if err != nil {
		if ok {
			return c.v, nil
		}
		return nil, err
	}
	a.mu.Lock()
	if a.groups == nil {
		a.groups = map[string]cached[[]string]{}
	}
	a.groups[handle] = cached[[]string]{members, time.Now()}
	a.mu.Unlock()
	return members, nil
}

func (a *Authorizer) fetchGroup(ctx context.Context, handle string) ([]string, error) {
	groups, err := a.API.GetUserGroupsContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list user groups: %w", err)
	}
	for _, g := range groups {
		if strings.EqualFold(g.Handle, handle) {
			return a.API.GetUserGroupMembersContext(ctx, g.ID)
		}
	}
	return nil, fmt.Errorf("user group @%s not found", handle)
}
