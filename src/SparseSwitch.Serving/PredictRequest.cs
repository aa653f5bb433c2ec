using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace SparseSwitch.Serving;

/// <summary>A request the server cannot read: answered 400 with <see cref="Exception.Message"/>.</summary>
public sealed class BadRequestException(string message) : Exception(message);

/// <summary>
/// A parsed <c>POST /v1/predict</c> body: the images (in a pooled buffer, C×H×W floats each) and
/// the options the body carried. Two forms are read:
/// <list type="bullet">
/// <item><c>application/json</c>: <c>{"inputs": [[…], […]], "subnet": 1, "budget_ms": 5, "top_k": 3}</c>;
/// <c>inputs</c> is either a list of images, each a flat list of C×H×W numbers, or one flat list of
/// N×C×H×W numbers (N ≥ 1 images); <c>subnet</c> (an index or a spec such as "0.05"),
/// <c>budget_ms</c> and <c>top_k</c> are optional;</item>
/// <item><c>application/octet-stream</c>: little-endian float32 values, with the shape in the header
/// <c>X-Shape: N,C,H,W</c> (or <c>C,H,W</c> for one image).</item>
/// </list>
/// Values are the model's input (already normalised) and must be finite.
/// </summary>
public sealed class PredictRequest
{
    public float[] Input { get; private set; }
    public int Images { get; }
    /// <summary>The body's <c>subnet</c> field as text (an index or a spec), if any.</summary>
    public string? Subnet { get; }
    public double? BudgetMs { get; }
    public int? TopK { get; }

    private PredictRequest(float[] input, int images, string? subnet, double? budget, int? topK)
    {
        Input = input;
        Images = images;
        Subnet = subnet;
        BudgetMs = budget;
        TopK = topK;
    }

    /// <summary>Hands the input buffer over (to a work item, which returns it to the pool).</summary>
    public float[] TakeInput()
    {
        var x = Input;
        Input = [];
        return x;
    }

    /// <summary>Returns the input buffer to the pool unless it was taken.</summary>
    public void Release()
    {
        if (Input.Length > 0) ArrayPool<float>.Shared.Return(Input);
        Input = [];
    }

    /// <summary>Parses a JSON body for a model whose images have <paramref name="imageLength"/> values.</summary>
    public static PredictRequest ParseJson(ReadOnlySpan<byte> body, int imageLength, int maxImages)
    {
        if (body.IsEmpty) throw new BadRequestException("the body is empty; send {\"inputs\": [[…]]}.");
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 8, CommentHandling = JsonCommentHandling.Disallow });
        float[]? values = null;
        int images = 0;
        string? subnet = null;
        double? budget = null;
        int? topK = null;
        try
        {
            if (!reader.Read()) throw new BadRequestException("the body is empty; send {\"inputs\": [[…]]}.");
            if (reader.TokenType != JsonTokenType.StartObject)
                throw new BadRequestException("the body must be a JSON object such as {\"inputs\": [[…]]}.");
            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject) break;
                string name = reader.GetString()!;
                Next(ref reader);
                switch (name)
                {
                    case "inputs":
                        if (values is not null) throw new BadRequestException("\"inputs\" is given twice.");
                        (values, images) = ReadInputs(ref reader, imageLength, maxImages);
                        break;
                    case "subnet":
                        if (reader.TokenType is not (JsonTokenType.Number or JsonTokenType.String))
                            throw new BadRequestException("\"subnet\" must be a sub-net index or spec.");
                        if (reader.TokenType == JsonTokenType.Number)
                            subnet = reader.TryGetInt32(out int si) ? si.ToString(CultureInfo.InvariantCulture) : throw new BadRequestException("\"subnet\" must be an integer index or a spec string.");
                        else subnet = reader.GetString();
                        break;
                    case "budget_ms":
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out double b))
                            throw new BadRequestException("\"budget_ms\" must be a number of milliseconds.");
                        budget = b;
                        break;
                    case "top_k":
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int k))
                            throw new BadRequestException("\"top_k\" must be an integer.");
                        topK = k;
                        break;
                    default:
                        reader.Skip();
                        throw new BadRequestException($"unknown field \"{name}\"; the fields are inputs, subnet, budget_ms and top_k.");
                }
            }
            if (reader.Read()) throw new BadRequestException("unexpected content after the JSON object.");
        }
        catch (JsonException e)
        {
            if (values is not null) ArrayPool<float>.Shared.Return(values);
            throw new BadRequestException($"malformed JSON: {e.Message}");
        }
        catch (BadRequestException)
        {
            if (values is not null) ArrayPool<float>.Shared.Return(values);
            throw;
        }
        if (values is null) throw new BadRequestException("the body has no \"inputs\".");
        return new PredictRequest(values, images, subnet, budget, topK);
    }

    private static void Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw new BadRequestException("the JSON body ends early.");
    }

    private static (float[] Values, int Images) ReadInputs(ref Utf8JsonReader reader, int imageLength, int maxImages)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new BadRequestException($"\"inputs\" must be a list of images (each a list of {imageLength} numbers) or one flat list of numbers.");
        long capacity = (long)imageLength * maxImages;
        var values = ArrayPool<float>.Shared.Rent(imageLength);
        int n = 0;
        try
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndArray) throw new BadRequestException("\"inputs\" is empty.");
            if (reader.TokenType == JsonTokenType.Number)
            {
                // One flat list: N whole images.
                while (reader.TokenType != JsonTokenType.EndArray)
                {
                    if (n >= capacity) throw new BadRequestException($"\"inputs\" holds more than {maxImages} images of {imageLength} values (the most one request may carry).");
                    Append(ref values, ref n, Number(ref reader, n / imageLength, n % imageLength));
                    Next(ref reader);
                }
                if (n % imageLength != 0)
                    throw new BadRequestException($"\"inputs\" has {n} values, not a whole number of images of {imageLength} values.");
                return (values, n / imageLength);
            }
            int images = 0;
            while (reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartArray)
                    throw new BadRequestException($"input {images} must be a list of {imageLength} numbers.");
                if (images >= maxImages) throw new BadRequestException($"\"inputs\" holds more than {maxImages} images (the most one request may carry).");
                int start = n;
                Next(ref reader);
                while (reader.TokenType != JsonTokenType.EndArray)
                {
                    if (n - start >= imageLength)
                        throw new BadRequestException($"input {images} has more than {imageLength} values; each image is C×H×W = {imageLength} values.");
                    Append(ref values, ref n, Number(ref reader, images, n - start));
                    Next(ref reader);
                }
                if (n - start != imageLength)
                    throw new BadRequestException($"input {images} has {n - start} values; each image is C×H×W = {imageLength} values.");
                images++;
                Next(ref reader);
            }
            return (values, images);
        }
        catch
        {
            ArrayPool<float>.Shared.Return(values);
            throw;
        }
    }

    private static float Number(ref Utf8JsonReader reader, int image, int index)
    {
        if (reader.TokenType != JsonTokenType.Number)
            throw new BadRequestException($"input {image}, value {index}: expected a number, found {Describe(reader.TokenType)}.");
        if (!reader.TryGetSingle(out float v) || !float.IsFinite(v))
            throw new BadRequestException($"input {image}, value {index}: {System.Text.Encoding.UTF8.GetString(reader.ValueSpan)} is not a finite float32.");
        return v;
    }

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.StartArray => "a list",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => t.ToString(),
    };

    private static void Append(ref float[] values, ref int n, float v)
    {
        if (n == values.Length)
        {
            var bigger = ArrayPool<float>.Shared.Rent(values.Length * 2);
            values.AsSpan(0, n).CopyTo(bigger);
            ArrayPool<float>.Shared.Return(values);
            values = bigger;
        }
        values[n++] = v;
    }

    /// <summary>Parses a raw body of little-endian float32 values with its shape header
    /// (<c>N,C,H,W</c> or <c>C,H,W</c>) for a model taking C×H×W images.</summary>
    public static PredictRequest ParseRaw(ReadOnlySpan<byte> body, string? shapeHeader, int channels, int height, int width, int maxImages)
    {
        if (string.IsNullOrWhiteSpace(shapeHeader))
            throw new BadRequestException($"a raw float32 body needs its shape in the header X-Shape: N,{channels},{height},{width}.");
        var parts = shapeHeader.Split(',', StringSplitOptions.TrimEntries);
        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]) || dims[i] < 1)
                throw new BadRequestException($"X-Shape: '{shapeHeader}' is not a list of positive integers (N,C,H,W).");
        long n;
        if (dims.Length == 4) n = dims[0];
        else if (dims.Length == 3) n = 1;
        else throw new BadRequestException($"X-Shape: '{shapeHeader}' has {dims.Length} dimensions; give N,C,H,W (or C,H,W for one image).");
        var chw = dims[^3..];
        if (chw[0] != channels || chw[1] != height || chw[2] != width)
            throw new BadRequestException($"X-Shape: images of {chw[0]}×{chw[1]}×{chw[2]}; the model takes {channels}×{height}×{width}.");
        if (n > maxImages) throw new BadRequestException($"X-Shape: {n} images; one request may carry at most {maxImages}.");
        int image = channels * height * width;
        long expected = n * image * 4;
        if (body.Length != expected)
            throw new BadRequestException($"the body has {body.Length} bytes; X-Shape {shapeHeader} needs {expected} (float32, little-endian).");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Raw input is little-endian float32.");
        var values = ArrayPool<float>.Shared.Rent((int)(n * image));
        var src = MemoryMarshal.Cast<byte, float>(body);
        for (int i = 0; i < src.Length; i++)
        {
            float v = src[i];
            if (!float.IsFinite(v))
            {
                ArrayPool<float>.Shared.Return(values);
                throw new BadRequestException($"input {i / image}, value {i % image} is {v.ToString(CultureInfo.InvariantCulture)}; inputs must be finite.");
            }
            values[i] = v;
        }
        return new PredictRequest(values, (int)n, null, null, null);
    }
}
