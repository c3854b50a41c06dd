#nullable enable
using System.Text;
using System.Text.Json.Nodes;
using Relay.Actors.Compaction;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>Folding patches into a document's state, in both modes, without an actor around it.</summary>
public sealed class DocumentFoldSpecs
{
    [Fact]
    public void Should_fold_immer_patches_on_objects_and_arrays()
    {
        var fold = Immer("{}",
            """[{"op":"add","path":["gifts"],"value":[]}]""",
            """[{"op":"add","path":["gifts",0],"value":{"name":"socks"}},{"op":"add","path":["gifts","-"],"value":{"name":"tie"}}]""",
            """[{"op":"add","path":["gifts",1],"value":{"name":"book"}}]""",
            """[{"op":"replace","path":["gifts",0,"name"],"value":"wool socks"},{"op":"remove","path":["gifts",2]}]""",
            """[{"op":"add","path":["owner"],"value":"ann"},{"op":"remove","path":["owner"]},{"op":"remove","path":["never-there"]}]""");

        AssertState("""{"gifts":[{"name":"wool socks"},{"name":"book"}]}""", fold);
    }

    [Fact]
    public void Should_start_from_the_last_root_replacement_of_a_patch_as_immer_does()
    {
        // Immer skips everything before the last root replacement, even a patch that would not apply.
        var fold = Immer("""{"a":1}""",
            """[{"op":"remove","path":["x","y"]},{"op":"replace","path":[],"value":{"b":[1]}},{"op":"add","path":["b",1],"value":2}]""");

        AssertState("""{"b":[1,2]}""", fold);
    }

    [Fact]
    public void Should_accept_canonical_index_strings_for_arrays_as_javascript_does()
    {
        var fold = Immer("""{"list":[1,2,3]}""", """[{"op":"replace","path":["list","1"],"value":9},{"op":"remove","path":["list","0"]}]""");

        AssertState("""{"list":[9,3]}""", fold);
    }

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("""{"op":"add","path":["a"],"value":1}""", "JSON array")]
    [InlineData("""[{"op":"add","path":["missing","a"],"value":1}]""", "path doesn't resolve")]
    [InlineData("""[{"op":"add","path":["n","a"],"value":1}]""", "path doesn't resolve")]
    [InlineData("""[{"op":"add","path":["list",5],"value":1}]""", "out of range")]
    [InlineData("""[{"op":"replace","path":["list",3],"value":1}]""", "out of range")]
    [InlineData("""[{"op":"remove","path":["list",-1]}]""", "out of range")]
    [InlineData("""[{"op":"add","path":["list","x"],"value":1}]""", "out of range or not a number")]
    [InlineData("""[{"op":"add","path":["a"]}]""", "without a value")]
    [InlineData("""[{"op":"move","path":["a"],"value":1}]""", "Unsupported patch operation: move")]
    [InlineData("""[{"op":"add","path":["__proto__","a"],"value":1}]""", "reserved attributes")]
    [InlineData("""[{"op":"add","path":[],"value":1}]""", "of the root")]
    [InlineData("""[{"op":"add","path":["a"],"value":{"b":1,"b":2}}]""", "not JSON")]
    public void Should_make_the_document_not_compactable_when_a_patch_does_not_apply(string patch, string reason)
    {
        var fold = Immer("""{"list":[1,2,3],"n":5}""");

        Assert.False(fold.Apply(Encoding.UTF8.GetBytes(patch), isText: true));

        Assert.False(fold.Compactable);
        Assert.Contains(reason, fold.NotCompactableReason);
        Assert.Null(fold.StateUtf8());
        // Once only: later patches, good or bad, change nothing and report nothing.
        Assert.True(fold.Apply("""[{"op":"add","path":["a"],"value":1}]"""u8.ToArray(), isText: true));
        Assert.True(fold.Apply("nope"u8.ToArray(), isText: true));
        Assert.Contains(reason, fold.NotCompactableReason);
    }

    [Fact]
    public void Should_make_the_document_not_compactable_on_a_binary_frame()
    {
        var fold = Immer("{}");

        Assert.False(fold.Apply("""[]"""u8.ToArray(), isText: false));

        Assert.Equal("a binary frame", fold.NotCompactableReason);
    }

    [Fact]
    public void Should_fold_rfc6902_patches()
    {
        var fold = Fold(CompactionMode.JsonPatch, """{"a/b":{"~":1}}""",
            """[{"op":"add","path":"/list","value":[1,2]},{"op":"add","path":"/list/1","value":3},{"op":"add","path":"/list/-","value":4}]""",
            """[{"op":"replace","path":"/a~1b/~0","value":2},{"op":"copy","from":"/list","path":"/copy"},{"op":"move","from":"/copy/0","path":"/first"}]""",
            """[{"op":"test","path":"/first","value":1.0},{"op":"remove","path":"/list/0"}]""");

        AssertState("""{"a/b":{"~":2},"list":[3,2,4],"copy":[3,2,4],"first":1}""", fold);
    }

    [Fact]
    public void Should_replace_the_root_in_rfc6902()
    {
        var fold = Fold(CompactionMode.JsonPatch, "{}", """[{"op":"replace","path":"","value":[1]},{"op":"add","path":"/0","value":0}]""");

        AssertState("[0,1]", fold);
    }

    [Theory]
    [InlineData("""[{"op":"replace","path":"/missing","value":1}]""")]
    [InlineData("""[{"op":"remove","path":"/missing"}]""")]
    [InlineData("""[{"op":"test","path":"/a","value":2}]""")]
    [InlineData("""[{"op":"add","path":"/list/01","value":2}]""")]
    [InlineData("""[{"op":"move","from":"/o","path":"/o/x"}]""")]
    [InlineData("""[{"op":"add","path":"a","value":2}]""")]
    public void Should_make_the_document_not_compactable_when_an_rfc6902_operation_fails(string patch)
    {
        var fold = Fold(CompactionMode.JsonPatch, """{"a":1,"list":[1],"o":{}}""");

        Assert.False(fold.Apply(Encoding.UTF8.GetBytes(patch), isText: true));
        Assert.False(fold.Compactable);
    }

    [Fact]
    public void Should_restore_a_folded_state_and_fold_on()
    {
        var fold = Immer("{}", """[{"op":"add","path":["a"],"value":[1]}]""");

        var restored = DocumentFold.Restore(CompactionMode.Immer, fold.StateUtf8(), null);
        restored.Apply("""[{"op":"add","path":["a","-"],"value":2}]"""u8.ToArray(), isText: true);

        AssertState("""{"a":[1,2]}""", restored);
    }

    [Fact]
    public void Should_build_a_root_replacement_that_applies_to_any_state()
    {
        var state = """{"a":[1,{"b":null}]}"""u8.ToArray();

        foreach (var mode in new[] { CompactionMode.Immer, CompactionMode.JsonPatch })
        {
            var patch = DocumentFold.ReplaceRootPatch(mode, state);
            var fold = Fold(mode, """{"old":true}""", Encoding.UTF8.GetString(patch));
            AssertState("""{"a":[1,{"b":null}]}""", fold);
        }

        Assert.Equal("""[{"op":"replace","path":[],"value":{"a":[1,{"b":null}]}}]""", Encoding.UTF8.GetString(DocumentFold.ReplaceRootPatch(CompactionMode.Immer, state)));
        Assert.Equal("""[{"op":"replace","path":"","value":{"a":[1,{"b":null}]}}]""", Encoding.UTF8.GetString(DocumentFold.ReplaceRootPatch(CompactionMode.JsonPatch, state)));
    }

    [Fact]
    public void Should_refuse_a_state_nested_deeper_than_it_can_write()
    {
        var fold = Immer("{}");
        var path = new JsonArray();
        for (var i = 0; i < DocumentFold.MaxDepth + 10; i++)
        {
            // Each patch adds one level below the last: the patches stay shallow, the state does not.
            path.Add("k");
            Assert.True(fold.Apply(Encoding.UTF8.GetBytes("[{\"op\":\"add\",\"path\":" + path.ToJsonString() + ",\"value\":{}}]"), isText: true));
        }

        Assert.Null(fold.StateUtf8());
        Assert.Contains("nests deeper", fold.NotCompactableReason);
    }

    private static DocumentFold Immer(string initial, params string[] patches) => Fold(CompactionMode.Immer, initial, patches);

    private static DocumentFold Fold(CompactionMode mode, string initial, params string[] patches)
    {
        var fold = DocumentFold.Start(mode, Encoding.UTF8.GetBytes(initial));
        foreach (var patch in patches)
        {
            Assert.True(fold.Apply(Encoding.UTF8.GetBytes(patch), isText: true), fold.NotCompactableReason);
        }

        return fold;
    }

    private static void AssertState(string expected, DocumentFold fold)
    {
        var state = fold.StateUtf8();
        Assert.NotNull(state);
        var actual = JsonNode.Parse(state);
        Assert.True(JsonEquality.AreEqual(JsonNode.Parse(expected), actual), $"expected {expected}, got {actual?.ToJsonString()}");
    }
}
