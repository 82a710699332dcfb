package dashboard

import (
	"bytes"
	"html/template"
	"net/url"
	"strings"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// markdownPool holds converters: a goldmark.Markdown initialises parts of
// itself lazily, so each goroutine takes its own.
var markdownPool = sync.Pool{New: func() any { return newMarkdown() }}

// newMarkdown is CommonMark with GFM tables, strikethrough, task lists and
// bare-URL links, rendered safely:
//
//   - raw HTML is never passed through (goldmark's default: it becomes a
//     "raw HTML omitted" comment);
//   - a link keeps its target only for http, https, mailto and relative
//     URLs; any other link is its text alone;
//   - an image becomes a link to its source with the alt text (images from
//     elsewhere are blocked by the CSP anyway, and a tracking pixel must
//     not be fetched);
//   - table alignment is an align attribute, not a style (the CSP forbids
//     inline styles).
func newMarkdown() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(
			extension.NewLinkify(),
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)),
			extension.Strikethrough,
			extension.TaskList,
		),
		goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(safeLinks{}, 1000))),
		// A line break is a line break, as mail, Slack and a terminal
		// show it (messages are written that way, not as Markdown).
		goldmark.WithRendererOptions(gmhtml.WithHardWraps()),
	)
}

// renderMarkdown renders untrusted Markdown (agent replies and text,
// messages) as safe HTML.
func renderMarkdown(src string) template.HTML {
	if strings.TrimSpace(src) == "" {
		return ""
	}
	b := []byte(strings.ReplaceAll(strings.ToValidUTF8(src, "\uFFFD"), "\x00", "\uFFFD"))
	md := markdownPool.Get().(goldmark.Markdown)
	defer markdownPool.Put(md)
	var buf bytes.Buffer
	if err := md.Convert(b, &buf); err != nil {
		// goldmark's HTML renderer does not fail; should it ever, the
		// reader still gets the words.
		return template.HTML("<pre>" + template.HTMLEscapeString(src) + "</pre>")
	}
	return template.HTML(buf.String())
}

// safeURL reports whether a link may point at dest: http, https, mailto or
// a relative URL. Control characters (which browsers strip, so that
// "java\tscript:" is javascript:) make url.Parse fail: refused too.
func safeURL(dest []byte) bool {
	s := strings.TrimSpace(string(dest))
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "", "http", "https", "mailto":
		return true
	}
	return false
}

// safeLinks rewrites links and images as newMarkdown describes.
type safeLinks struct{}

func (safeLinks) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	src := reader.Source()
	var links []*ast.Link
	var images []*ast.Image
	var autos []*ast.AutoLink
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link:
			if !safeURL(n.Destination) {
				links = append(links, n)
			}
		case *ast.Image:
			images = append(images, n)
		case *ast.AutoLink:
			if !safeURL(n.URL(src)) {
				autos = append(autos, n)
			}
		}
		return ast.WalkContinue, nil
	})
	for _, n := range links {
		unwrap(n)
	}
	for _, n := range images {
		parent := n.Parent()
		if parent == nil {
			continue
		}
		if safeURL(n.Destination) {
			l := ast.NewLink()
			l.Destination, l.Title = n.Destination, n.Title
			moveChildren(n, l)
			if !l.HasChildren() {
				l.AppendChild(l, ast.NewString(n.Destination))
			}
			parent.ReplaceChild(parent, n, l)
		} else {
			unwrap(n)
		}
	}
	for _, n := range autos {
		if parent := n.Parent(); parent != nil {
			parent.ReplaceChild(parent, n, ast.NewString(n.Label(src)))
		}
	}
}

// unwrap replaces n with its children.
func unwrap(n ast.Node) {
	parent := n.Parent()
	if parent == nil {
		return
	}
	for c := n.FirstChild(); c != nil; {
		next := c.NextSibling()
		n.RemoveChild(n, c)
		parent.InsertBefore(parent, n, c)
		c = next
	}
	parent.RemoveChild(parent, n)
}

func moveChildren(from, to ast.Node) {
	for c := from.FirstChild(); c != nil; {
		next := c.NextSibling()
		from.RemoveChild(from, c)
		to.AppendChild(to, c)
		c = next
	}
}
