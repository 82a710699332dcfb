package email

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPlainBody(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		forward bool
		want    string
	}{
		{"no quote", "Fix it.\r\n\r\nThanks  \r\n", false, "Fix it.\n\nThanks"},
		{"On wrote with trailing quote", "Yes.\n\nOn Tue, Mar 5, 2024 at 9:12 AM Bob <bob@x.org> wrote:\n> old\n> more\n", false,
			"Yes.\n\n[quoted text removed]"},
		{"attribution wrapped over two lines", "Yes.\n\nOn Tue, Mar 5, 2024 at 9:12 AM Bob <\nbob@x.org> wrote:\n\n> old\n", false,
			"Yes.\n\n[quoted text removed]"},
		{"German", "Ja.\n\nAm 06.03.2024 um 10:00 schrieb Bob <bob@x.de>:\n> alt\n", false, "Ja.\n\n[quoted text removed]"},
		{"French", "Oui.\n\nLe mar. 5 mars 2024 à 09:12, Bob <bob@x.fr> a écrit :\n> ancien\n", false, "Oui.\n\n[quoted text removed]"},
		{"Spanish", "Sí.\n\nEl mar, 5 mar 2024 a las 9:12, Bob (<bob@x.es>) escribió:\n> viejo\n", false, "Sí.\n\n[quoted text removed]"},
		{"trailing > lines without attribution", "Yes.\n\n> old\n>\n> older\n\n", false, "Yes.\n\n[quoted text removed]"},
		{"inline reply keeps everything", "Hi\n\nOn Mon, Bob wrote:\n> q1\nanswer 1\n> q2\nanswer 2\n", false,
			"Hi\n\nOn Mon, Bob wrote:\n> q1\nanswer 1\n> q2\nanswer 2"},
		{"inline reply, trailing quote removed", "> q1\nanswer 1\n\n> q2\n", false, "> q1\nanswer 1\n\n[quoted text removed]"},
		{"only quoted text is kept", "> Please look at this\n> and this\n", false, "> Please look at this\n> and this"},
		{"attribution not above a quote stays", "I said:\nOn Monday Bob wrote: hello\nend\n", false, "I said:\nOn Monday Bob wrote: hello\nend"},
		{"Outlook original message", "Approved.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\nTo: Pat\nSubject: x\n\nold text\n", false,
			"Approved.\n\n[quoted text removed]"},
		{"Outlook header block with underscores", "Approved.\n\n________________________________\nFrom: Bob <bob@x.org>\nSent: Monday, March 4, 2024 9:00\nTo: Pat\nSubject: x\n\nold text\n", false,
			"Approved.\n\n[quoted text removed]"},
		{"German Outlook header block", "OK.\n\nVon: Bob\nGesendet: Montag\nAn: Pat\nBetreff: x\n\nalt\n", false, "OK.\n\n[quoted text removed]"},
		{"header block alone is the message", "From: Bob\nSent: Monday\nTo: Pat\nSubject: x\n\nplease handle\n", false,
			"From: Bob\nSent: Monday\nTo: Pat\nSubject: x\n\nplease handle"},
		{"From: line without Sent: is text", "Summary.\n\nFrom: the logs we see\nthat the job failed.\n", false,
			"Summary.\n\nFrom: the logs we see\nthat the job failed."},
		{"forwarded message is kept", "See below.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\nTo: Pat\nSubject: bug\n\nthe bug report\n", true,
			"See below.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\nTo: Pat\nSubject: bug\n\nthe bug report"},
		{"forward still loses a trailing quote", "See below.\n\n> quoted\n", true, "See below.\n\n[quoted text removed]"},
		{"signature kept", "Do it.\n\n-- \nPat\nACME\n", false, "Do it.\n\n-- \nPat\nACME"},
		{"signature above the quote", "Do it.\n\n-- \nPat\n\nOn Mon, Bob wrote:\n> q\n", false, "Do it.\n\n-- \nPat\n\n[quoted text removed]"},
		{"indentation kept", "Run:\n\n    make test\n", false, "Run:\n\n    make test"},
		{"CR line endings", "a\rb\r", false, "a\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, plainBody(tt.in, tt.forward))
		})
	}
}

func TestUnflow(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		delsp bool
		want  string
	}{
		{"joins soft breaks", "a long \nline\nnext\n", false, "a long line\nnext\n"},
		{"DelSp removes the space", "a long \nline\n", true, "a longline\n"},
		{"quoted paragraphs", "> q1 \n> q2\n>> deeper \n>> still\nplain\n", false, "> q1 q2\n>> deeper still\nplain\n"},
		{"quote depth change ends a paragraph", "> a \n>> b\n", false, "> a \n>> b\n"},
		{"space-stuffing undone", " From here\n  indented\n", false, "From here\n indented\n"},
		{"signature line is not flowed", "text\n-- \nPat\n", false, "text\n-- \nPat\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, unflow(tt.in, tt.delsp))
		})
	}
}
