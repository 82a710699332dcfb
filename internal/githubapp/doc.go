// Package githubapp authenticates as a GitHub App and mints installation
// tokens: the one implementation of that in Airut, shared by the pull
// request loop (internal/github) and the sandbox proxy, which swaps the
// surrogate token a container holds for a real installation token narrowed
// to the repositories and permissions configured for it.
//
// What it does:
//
//   - [ParseKey] reads the app's private key (PKCS #1 as GitHub hands it
//     out, or PKCS #8) and [SignJWT] signs the short-lived RS256 JWT that
//     authenticates as the app itself;
//   - [Mint] exchanges that JWT for an installation token, optionally
//     narrowed ([Narrowing]) to some of the installation's repositories and
//     to fewer permissions; GitHub's refusals come back as [*Error] with the
//     status and GitHub's message;
//   - [InstallationRepos] lists the repositories an installation token can
//     reach;
//   - [Source] keeps one token per installation and narrowing, minting a new
//     one five minutes before the old one expires.
//
// It speaks the REST API with net/http and raw JSON rather than through
// go-github, for two reasons: the proxy is the sandbox's security boundary
// and stays small enough to read (standard library only; a test keeps it
// so), and go-github's typed permissions drop permission names it does not
// know, which would silently widen a narrowed token.
//
// It keeps no package-level mutable state, never retries or sleeps, and
// sends credentials only to the base URL it is given.
package githubapp
