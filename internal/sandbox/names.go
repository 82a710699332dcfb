package sandbox

import "strings"

// Labels on everything a run starts (agent container, proxy, network): a
// restarted worker removes what its host left behind by LabelHost, and
// only Airut's containers are ever touched.
const (
	LabelHost         = "airut.host"
	LabelRepo         = "airut.repo"
	LabelConversation = "airut.conversation"
	LabelTask         = "airut.task"
)

// Labels are the labels of one task's containers and network.
func Labels(hostID, repoID, convID, taskID string) map[string]string {
	return map[string]string{
		LabelHost: hostID, LabelRepo: repoID, LabelConversation: convID, LabelTask: taskID,
	}
}

// ConversationName is the part of a conversation's container and network
// names that makes them unique: one of each at a time, so a retried run
// replaces a leftover of the previous attempt.
func ConversationName(repoID, convID string) string {
	return strings.ToLower(repoID) + "-" + convID
}
