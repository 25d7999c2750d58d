using OnnxSteer.Cli;
return await CliApp.RunAsync(args);
