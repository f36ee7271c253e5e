-- Pandoc Lua filter that makes vswitch's man pages from docs/man/*.md (docs/CMakeLists.txt):
--
--   pandoc -f markdown-smart -s -t man --lua-filter man.lua vswitchd.8.md
--
-- 1. Includes: a div `::: {.include file="../operations.md" section="stop" level="1"}` `:::` is
--    replaced by that section of that file (found by its heading's identifier, up to the next
--    heading of the same or a higher level), its heading made a level-`level` heading and its
--    sub-headings shifted alike; `title="..."` renames it. Class `.body` leaves the section's own heading out; `.intro`
--    keeps only what comes before its first sub-heading. A missing file or section stops the build,
--    naming both, so a renamed heading in docs/ cannot silently empty a man page.
-- 2. Man-page form: tables become definition lists (.TP; a 5-column table does not fit 80
--    columns), links become their text, level-1 headings are upper case (their code stays as
--    written: keys are case-sensitive), and the dashes of code, of options and of bold words
--    (commands) are "\-", so that no line breaks inside them and they copy as ASCII. Hyphenation
--    is off and lines are not justified (".nh", ".ad l"): code words stay whole.

local stringify = pandoc.utils.stringify

local function input_dir()
  local first = PANDOC_STATE.input_files[1]
  return first and pandoc.path.directory(first) or "."
end

local function read_markdown(file)
  local path = pandoc.path.join({ input_dir(), file })
  local f = io.open(path, "r")
  if not f then
    error("man.lua: cannot open " .. path .. " (named by an include in " ..
          tostring(PANDOC_STATE.input_files[1]) .. ")")
  end
  local text = f:read("a")
  f:close()
  return pandoc.read(text, "markdown-smart").blocks, path
end

local function include(div)
  if not div.classes:includes("include") then return nil end
  local file, id = div.attributes.file, div.attributes.section
  if not file or not id then error("man.lua: an include needs file= and section=") end
  local blocks, path = read_markdown(file)
  local start
  for i, b in ipairs(blocks) do
    if b.t == "Header" and b.identifier == id then start = i break end
  end
  if not start then
    error("man.lua: " .. path .. " has no section with the identifier \"" .. id ..
          "\" (was its heading renamed? fix the include in " ..
          tostring(PANDOC_STATE.input_files[1]) .. ")")
  end
  local head = blocks[start]
  local level = tonumber(div.attributes.level or head.level)
  local shift = level - head.level
  local out = pandoc.List()
  if not div.classes:includes("body") then
    local title = div.attributes.title
    out:insert(pandoc.Header(level, title and pandoc.read(title, "markdown-smart").blocks[1].content
                                           or head.content))
  end
  for j = start + 1, #blocks do
    local b = blocks[j]
    if b.t == "Header" then
      if b.level <= head.level or div.classes:includes("intro") then break end
      out:insert(pandoc.Header(math.max(1, b.level + shift), b.content))
    else
      out:insert(b)
    end
  end
  return out
end

-- "\-" for every dash of `s`, the rest as text (the writer escapes it).
local function with_roff_dashes(s)
  local out = pandoc.List()
  for part, dash in s:gmatch("([^-]*)(-?)") do
    if part ~= "" then out:insert(pandoc.Str(part)) end
    if dash ~= "" then out:insert(pandoc.RawInline("man", "\\-")) end
  end
  return out
end

local function code(c)
  local out = pandoc.List({ pandoc.RawInline("man", "\\f[V]") })
  -- A long JSON object is one word: let a line break after its commas ("\:").
  for piece, comma in c.text:gmatch("([^,]*)(,?)") do
    out:extend(with_roff_dashes(piece))
    if comma ~= "" then out:extend({ pandoc.Str(","), pandoc.RawInline("man", "\\:") }) end
  end
  out:insert(pandoc.RawInline("man", "\\f[R]"))
  return out
end

-- Options (a word starting with "-", possibly after "[" or "("): their dashes become "\-".
local function str(s)
  local pre, opt, post = s.text:match("^([%[%(|]*)(%-%-?%w[%w%-]*)(.*)$")
  if not opt then return nil end
  local out = pandoc.List()
  if pre ~= "" then out:insert(pandoc.Str(pre)) end
  out:extend(with_roff_dashes(opt))
  if post ~= "" then out:insert(pandoc.Str(post)) end
  return out
end

local function as_blocks(contents)
  -- A pipe table's cell is one Plain block: a paragraph in a definition.
  return contents:map(function(b) return b.t == "Plain" and pandoc.Para(b.content) or b end)
end

-- A table's rows as a definition list: the first column is the term; with more than two columns,
-- the middle ones make a first paragraph ("type: integer; default: 1; allowed: 1..16"), and the
-- last column follows.
local function table_to_list(t)
  local headers = {}
  for j, c in ipairs(t.head.rows[1].cells) do headers[j] = stringify(c.contents):lower() end
  local items = pandoc.List()
  for _, body in ipairs(t.bodies) do
    for _, row in ipairs(body.body) do
      local cells = row.cells
      local term = pandoc.utils.blocks_to_inlines(cells[1].contents)
      local def = pandoc.List()
      if #cells > 2 then
        local inl = pandoc.List()
        for j = 2, #cells - 1 do
          if #inl > 0 then inl:extend({ pandoc.Str(";"), pandoc.Space() }) end
          inl:extend({ pandoc.Emph({ pandoc.Str(headers[j] .. ":") }), pandoc.Space() })
          inl:extend(pandoc.utils.blocks_to_inlines(cells[j].contents))
        end
        def:insert(pandoc.Para(inl))
      end
      local last = as_blocks(cells[#cells].contents)
      if #cells > 2 and headers[#cells] ~= "meaning" and #last > 0 and last[1].t == "Para" then
        last[1].content:insert(1, pandoc.Emph({ pandoc.Str(headers[#cells] .. ":") }))
        last[1].content:insert(2, pandoc.Space())
      end
      def:extend(last)
      items:insert({ term, { def } })
    end
  end
  local list = pandoc.DefinitionList(items)
  if #headers ~= 2 then return list end
  -- Two columns: say what the term and its text are ("request", "reply (besides ...)").
  local h = t.head.rows[1].cells
  local what = pandoc.List({ pandoc.Str("Below:"), pandoc.Space() })
  what:extend(pandoc.utils.blocks_to_inlines(h[1].contents))
  what:extend({ pandoc.Str(","), pandoc.Space(), pandoc.Str("then"), pandoc.Space() })
  what:extend(pandoc.utils.blocks_to_inlines(h[2].contents))
  what:insert(pandoc.Str("."))
  return { pandoc.Para(what), list }
end

local function upper_heading(h)
  if h.level ~= 1 then return nil end
  h.content = h.content:walk({ Str = function(s) return pandoc.Str(s.text:upper()) end })
  return h
end

local function strong(s)
  return s:walk({ Str = function(x) return with_roff_dashes(x.text) end })
end

local function page(doc)
  doc.blocks:insert(1, pandoc.RawBlock("man", ".nh\n.ad l"))
  return doc
end

return {
  { Div = include },
  { Header = upper_heading },
  {
    Table = table_to_list,
    Link = function(l) return l.content end,
    Image = function() return {} end,
    Code = code,
    Str = str,
  },
  { Strong = strong, Pandoc = page },
}
