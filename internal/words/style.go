package words

// Style is what differs between the text and the markdown wording of the
// same figures, in the plan's and the survey's reports: markdown marks
// literals as code and stresses what needs a look.
type Style interface {
	Code(s string) string   // a literal: a key, a glob, a flag, a field
	Strong(s string) string // what a reader must not miss
	Failed() string         // the mark of a report with errors
}

// TextStyle is plain text for a terminal: literals printable, nothing
// stressed.
type TextStyle struct{}

func (TextStyle) Code(s string) string   { return Printable(s) }
func (TextStyle) Strong(s string) string { return s }
func (TextStyle) Failed() string         { return "" }

// MarkdownStyle is GitHub-flavoured markdown, for a pull request.
type MarkdownStyle struct{}

func (MarkdownStyle) Code(s string) string   { return MarkdownCode(s) }
func (MarkdownStyle) Strong(s string) string { return "**" + s + "**" }
func (MarkdownStyle) Failed() string         { return "❌ " }
