using Onnx;

namespace OnnxSteer.ModelFiles;

/// <summary>What a tensor is to its model, which decides whether it may move to external data.</summary>
internal enum TensorRole
{
    /// <summary>A dense initializer of the main graph or of a subgraph.</summary>
    Initializer,
    /// <summary>The values or indices of a sparse initializer or sparse attribute.</summary>
    Sparse,
    /// <summary>A tensor-valued node attribute (e.g. Constant's <c>value</c>).</summary>
    Attribute,
}

/// <summary>One tensor of a model and its role.</summary>
internal readonly record struct TensorSlot(TensorProto Tensor, TensorRole Role);

/// <summary>
/// Visits every tensor a model holds — initializers, sparse tensors and attribute tensors of the main graph, of
/// every subgraph (If/Loop/Scan bodies), of functions and of training graphs — in a fixed order, so two copies of
/// one model yield their tensors pairwise.
/// </summary>
internal static class TensorWalker
{
    /// <summary>All tensors of <paramref name="model"/>.</summary>
    public static IEnumerable<TensorSlot> All(ModelProto model)
    {
        if (model.Graph is not null)
            foreach (var slot in Graph(model.Graph)) yield return slot;
        foreach (var function in model.Functions)
            foreach (var slot in Nodes(function.Node)) yield return slot;
        foreach (var info in model.TrainingInfo)
        {
            if (info.Initialization is not null)
                foreach (var slot in Graph(info.Initialization)) yield return slot;
            if (info.Algorithm is not null)
                foreach (var slot in Graph(info.Algorithm)) yield return slot;
        }
    }

    /// <summary>All tensors of <paramref name="graph"/> and its subgraphs.</summary>
    public static IEnumerable<TensorSlot> Graph(GraphProto graph)
    {
        foreach (var t in graph.Initializer) yield return new TensorSlot(t, TensorRole.Initializer);
        foreach (var sparse in graph.SparseInitializer)
            foreach (var slot in Sparse(sparse)) yield return slot;
        foreach (var slot in Nodes(graph.Node)) yield return slot;
    }

    private static IEnumerable<TensorSlot> Nodes(IEnumerable<NodeProto> nodes)
    {
        foreach (var node in nodes)
        foreach (var attribute in node.Attribute)
        {
            if (attribute.T is not null) yield return new TensorSlot(attribute.T, TensorRole.Attribute);
            foreach (var t in attribute.Tensors) yield return new TensorSlot(t, TensorRole.Attribute);
            if (attribute.SparseTensor is not null)
                foreach (var slot in Sparse(attribute.SparseTensor)) yield return slot;
            foreach (var sparse in attribute.SparseTensors)
                foreach (var slot in Sparse(sparse)) yield return slot;
            if (attribute.G is not null)
                foreach (var slot in Graph(attribute.G)) yield return slot;
            foreach (var g in attribute.Graphs)
                foreach (var slot in Graph(g)) yield return slot;
        }
    }

    private static IEnumerable<TensorSlot> Sparse(SparseTensorProto sparse)
    {
        if (sparse.Values is not null) yield return new TensorSlot(sparse.Values, TensorRole.Sparse);
        if (sparse.Indices is not null) yield return new TensorSlot(sparse.Indices, TensorRole.Sparse);
    }
}
