package mailauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Roles the app's tokens must carry: Exchange Online's application
// permissions for reading a mailbox over IMAP and sending over SMTP.
// Without one the identity platform still hands out tokens; only the
// login fails, later and with a vaguer message, so `airut check` looks
// at the token itself.
var requiredRoles = []string{"IMAP.AccessAsApp", "SMTP.SendAsApp"}

// MissingRoles reads the application permissions ("roles") of an access
// token and returns those of IMAP.AccessAsApp and SMTP.SendAsApp it
// lacks. The token is the platform's JWT; its signature is not checked
// (it is ours, fresh from the token endpoint, and only read for advice).
func MissingRoles(token string) ([]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("the access token is not a JWT, so its permissions cannot be read")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("decode the access token's claims: %w", err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("read the access token's claims: %w", err)
	}
	var missing []string
	for _, r := range requiredRoles {
		if !slices.Contains(claims.Roles, r) {
			missing = append(missing, r)
		}
	}
	return missing, nil
}
