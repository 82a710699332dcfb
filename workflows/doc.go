// Package workflows holds ConversationWorkflow, the durable state machine of
// one Airut conversation, and the types that cross its boundary: the signal,
// query and update names, the messages it receives and the inputs and
// results of the activities it schedules.
//
// Everything here is deterministic workflow code. It must not touch the
// network, the disk, the clock or randomness except through the Temporal
// SDK, and it must not import packages that do. Ingest and activities import
// this package for its names and types only.
//
// Changes that alter the order of commands a running workflow issues go
// behind workflow.GetVersion; the replay tests over testdata/ catch the ones
// that do not.
package workflows
