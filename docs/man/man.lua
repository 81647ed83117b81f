-- pandoc Lua filter: a man page from a docs/man/*.md head and the doc it names.
--
-- A head file holds the title block, NAME and SYNOPSIS and ends with
--   <!-- man-include: ../cli.md -->
-- The named doc is read here, so its text lives in one place: its title (the
-- first level-1 heading) is dropped, its other headings move up one level, a
-- DESCRIPTION heading goes before its first paragraphs, and the code block
-- right after an HTML comment <!-- man: synopsis --> in it becomes the page's
-- SYNOPSIS (the head leaves an empty "# SYNOPSIS" for it). Tables become
-- term lists (tbl tables overflow an 80-column terminal), links to other docs
-- keep their text only (a man page cannot follow them), level-1 headings are
-- upper case as man pages write them.

local function dir_of(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function to_deflist(tbl)
  local t = pandoc.utils.to_simple_table(tbl)
  local items = {}
  for _, row in ipairs(t.rows) do
    local defs = {}
    for i = 2, #row do
      local head = pandoc.utils.stringify(t.headers[i] or {})
      local cell = row[i]
      if #cell > 0 then
        if head ~= "" and #row > 2 then
          local first = cell[1]
          if first.t == "Plain" or first.t == "Para" then
            first.content:insert(1, pandoc.Space())
            first.content:insert(1, pandoc.Strong({ pandoc.Str(head .. ":") }))
          end
        end
        for _, b in ipairs(cell) do
          table.insert(defs, b)
        end
      end
    end
    local term = row[1][1] and row[1][1].content or pandoc.List()
    table.insert(items, { term, { defs } })
  end
  return pandoc.DefinitionList(items)
end

local function read_doc(path)
  local f = assert(io.open(path, "r"), "man.lua: cannot open " .. path)
  local text = f:read("a")
  f:close()
  return pandoc.read(text, "markdown").blocks
end

-- The included doc's blocks, shifted; returns blocks and the synopsis block.
local function included(path)
  local out, synopsis, want_synopsis, dropped_title = pandoc.List(), nil, false, false
  for _, b in ipairs(read_doc(path)) do
    if b.t == "RawBlock" and b.text:match("<!%-%-%s*man:%s*synopsis%s*%-%->") then
      want_synopsis = true
    elseif want_synopsis and b.t == "CodeBlock" then
      synopsis, want_synopsis = b, false
    elseif b.t == "Header" and b.level == 1 and not dropped_title then
      dropped_title = true
    else
      if b.t == "Header" then
        b.level = math.max(1, b.level - 1)
      elseif #out == 0 then
        out:insert(pandoc.Header(1, "DESCRIPTION"))
      end
      out:insert(b)
    end
  end
  return out, synopsis
end

function Pandoc(doc)
  local base = dir_of(PANDOC_STATE.input_files[1] or ".")
  local blocks, synopsis = pandoc.List(), nil
  for _, b in ipairs(doc.blocks) do
    local inc = b.t == "RawBlock" and b.text:match("<!%-%-%s*man%-include:%s*(%S+)%s*%-%->")
    if inc then
      local more, syn = included(base .. "/" .. inc)
      blocks:extend(more)
      synopsis = synopsis or syn
    else
      blocks:insert(b)
    end
  end
  -- the doc's synopsis goes under the head's SYNOPSIS heading
  if synopsis then
    for i, b in ipairs(blocks) do
      if b.t == "Header" and pandoc.utils.stringify(b) == "SYNOPSIS" then
        blocks:insert(i + 1, synopsis)
        break
      end
    end
  end
  doc.blocks = blocks
  return doc:walk({
    Table = to_deflist,
    -- a pipe escaped for a markdown table cell ("tpm\|file") reads as a plain pipe
    Code = function(c)
      c.text = c.text:gsub("\\|", "|")
      return c
    end,
    Link = function(l)
      if not l.target:match("^%a+:") then
        return l.content
      end
    end,
    Header = function(h)
      if h.level == 1 then
        h.content = pandoc.Inlines(pandoc.text.upper(pandoc.utils.stringify(h)))
      end
      return h
    end,
  })
end
