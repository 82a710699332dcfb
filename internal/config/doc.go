// Package config loads and validates airut.yaml, the server configuration.
//
// The file format is the reference Airut's (schema version 5), key for key, so
// an existing airut.yaml works unchanged: the !env and !var tags, the flat
// vars: table, execution, dashboard, network and repos.<id>.… sections. Airut
// on Temporal adds a temporal: section (embedded server or remote cluster) and
// a few repo keys of its own (image, claude_binary).
//
// Loading never half-succeeds: any problem is reported with the file, the
// line, the dotted key and what is wrong, and the caller starts nothing. The
// package reads files and the environment only; it starts no processes and
// opens no connections.
package config
