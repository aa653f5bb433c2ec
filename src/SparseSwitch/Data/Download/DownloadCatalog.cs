namespace SparseSwitch.Data.Download;

/// <summary>
/// Canonical mirrors and published checksums of the downloadable data sets. MD5 values are those
/// the data sets' authors publish (CIFAR: the table on www.cs.toronto.edu/~kriz/cifar.html) and
/// that torchvision checks (MNIST, Fashion-MNIST, KMNIST); they are of the files as served.
/// </summary>
public static class DownloadCatalog
{
    private static readonly string[] IdxFiles =
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

    private static RemoteFile[] Idx(params string[] md5s) => IdxFiles.Select((f, i) => new RemoteFile(f, md5s[i])).ToArray();

    public static readonly DownloadSpec Mnist = new("mnist",
        ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
        Idx("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"));

    public static readonly DownloadSpec FashionMnist = new("fashion-mnist",
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        Idx("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"));

    public static readonly DownloadSpec Kmnist = new("kmnist",
        ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
        Idx("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
            "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"));

    public static readonly DownloadSpec Cifar10 = new("cifar10",
        ["https://www.cs.toronto.edu/~kriz/"],
        [new RemoteFile("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", 170_052_171)],
        new ArchiveLayout("cifar-10-binary.tar.gz", new[] { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin", "batches.meta.txt" }
            .ToDictionary(f => "cifar-10-batches-bin/" + f, f => f)));

    public static readonly DownloadSpec Cifar100 = new("cifar100",
        ["https://www.cs.toronto.edu/~kriz/"],
        [new RemoteFile("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8", 168_513_733)],
        new ArchiveLayout("cifar-100-binary.tar.gz", new[] { "train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt" }
            .ToDictionary(f => "cifar-100-binary/" + f, f => f)));

    public static IReadOnlyList<DownloadSpec> All { get; } = [Mnist, FashionMnist, Kmnist, Cifar10, Cifar100];

    /// <summary>The download spec for a data set name (same spellings as <see cref="DatasetCatalog.Get"/>).</summary>
    public static DownloadSpec Get(string name)
    {
        var spec = DatasetCatalog.Get(name);
        return All.FirstOrDefault(d => d.Name == spec.Name)
            ?? throw new ArgumentException($"Data set '{spec.Name}' is built in and needs no download. Downloadable: {string.Join(", ", All.Select(d => d.Name))}.");
    }
}
